package httpserve

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ops returns the handler of a process's ops endpoints: GET /metrics (the
// metrics of reg), /healthz (200 while the process serves: liveness) and
// /readyz (200 when ready reports true, else 503 with notReady as the
// status).
func Ops(reg *prometheus.Registry, ready func() bool, notReady string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Metrics(reg))
	mux.HandleFunc("GET /healthz", Health)
	mux.Handle("GET /readyz", Ready(ready, notReady))
	return mux
}

// Metrics serves the metrics of reg in the Prometheus text format; errors
// gathering them are counted in reg (promhttp_metric_handler_errors_total).
func Metrics(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

var (
	okBody    = []byte(`{"status":"ok"}` + "\n")
	readyBody = []byte(`{"status":"ready"}` + "\n")
)

// Health answers 200 {"status":"ok"}: the process is alive.
func Health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, okBody)
}

// Ready answers 200 {"status":"ready"} when ready reports true, else 503
// {"status": notReady}.
func Ready(ready func() bool, notReady string) http.Handler {
	body, _ := json.Marshal(map[string]string{"status": notReady}) // cannot fail
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		writeJSON(w, http.StatusOK, readyBody)
	})
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body) //nolint:errcheck // the client is gone
}
