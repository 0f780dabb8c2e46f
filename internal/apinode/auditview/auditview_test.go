package auditview

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/counter-dev/counter/internal/apinode/audit"
)

// fake is an audit that waits for release and counts its runs.
type fake struct {
	runs    atomic.Int32
	release chan struct{}
	err     error
}

func (f *fake) run(ctx context.Context, _ audit.Config) (audit.Result, error) {
	n := f.runs.Add(1)
	<-f.release
	if f.err != nil {
		return audit.Result{}, f.err
	}
	return audit.Result{At: time.Now(), Checked: int(10 * n), Matching: int(10*n) - 1, Drifting: 1}, nil
}

func serve(v *View) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /{stage}/audit", v.Handler())
	return httptest.NewServer(mux)
}

func get(t *testing.T, url string) (int, audit.Result, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var res audit.Result
	json.Unmarshal(raw, &res)
	return resp.StatusCode, res, string(raw)
}

// Concurrent requests share one audit; a later request within MaxAge gets
// the same result without a new audit; the metrics show it.
func TestRequestsShareOneAuditAndItsResult(t *testing.T) {
	f := &fake{release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	v := New(Config{Stage: "dev", MaxAge: time.Hour, Run: f.run, Registerer: reg})
	srv := serve(v)
	defer srv.Close()

	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i], _, _ = get(t, srv.URL+"/dev/audit") }()
	}
	for f.runs.Load() == 0 {
		time.Sleep(time.Millisecond) // until the first request started the audit
	}
	close(f.release)
	wg.Wait()
	code, res, _ := get(t, srv.URL+"/dev/audit")
	if f.runs.Load() != 1 || code != 200 || res.Checked != 10 || res.Drifting != 1 {
		t.Errorf("runs %d, code %d, result %+v; concurrent codes %v", f.runs.Load(), code, res, codes)
	}
	for _, c := range codes {
		if c != 200 {
			t.Errorf("concurrent request answered %d", c)
		}
	}
	if got := value(t, v.m.checked); got != 10 {
		t.Errorf("counter_audit_windows_checked %v", got)
	}
	if got := value(t, v.m.drifting); got != 1 {
		t.Errorf("counter_audit_drift_windows %v", got)
	}
	if got := value(t, v.m.runs.WithLabelValues(resultDrift)); got != 1 {
		t.Errorf("drift runs %v", got)
	}
	mfs, err := reg.Gather()
	names := map[string]int{}
	for _, mf := range mfs {
		names[mf.GetName()] = len(mf.GetMetric())
	}
	if err != nil || names["counter_audit_windows_checked"] != 1 || names["counter_audit_drift_windows"] != 1 ||
		names["counter_audit_runs_total"] != 3 || names["counter_audit_last_run_timestamp_seconds"] != 1 {
		t.Errorf("registered series %v (%v)", names, err)
	}
}

// An old result is replaced by a new audit.
func TestOldResultIsRefreshed(t *testing.T) {
	f := &fake{release: make(chan struct{})}
	close(f.release)
	v := New(Config{Stage: "dev", MaxAge: time.Nanosecond, Run: f.run})
	srv := serve(v)
	defer srv.Close()
	get(t, srv.URL+"/dev/audit")
	_, res, _ := get(t, srv.URL+"/dev/audit")
	if f.runs.Load() != 2 || res.Checked != 20 {
		t.Errorf("runs %d, result %+v", f.runs.Load(), res)
	}
}

func TestFailedAuditAndWrongStage(t *testing.T) {
	f := &fake{release: make(chan struct{}), err: errors.New("broker down")}
	close(f.release)
	v := New(Config{Stage: "dev", Run: f.run})
	srv := serve(v)
	defer srv.Close()
	if code, _, body := get(t, srv.URL+"/dev/audit"); code != 503 || !strings.Contains(body, "broker down") {
		t.Errorf("failed audit: %d %s", code, body)
	}
	if got := value(t, v.m.runs.WithLabelValues(resultError)); got != 1 {
		t.Errorf("error runs %v", got)
	}
	if code, _, _ := get(t, srv.URL+"/prod/audit"); code != 404 {
		t.Errorf("wrong stage: %d", code)
	}
}

// A request that gives up waiting gets its context's error; the audit
// goes on and serves the next request.
func TestRequestGivesUpAuditGoesOn(t *testing.T) {
	f := &fake{release: make(chan struct{})}
	v := New(Config{Stage: "dev", MaxAge: time.Hour, Run: f.run})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Result(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want canceled", err)
	}
	close(f.release)
	res, err := v.Result(context.Background())
	if err != nil || res.Checked != 10 || f.runs.Load() != 1 {
		t.Errorf("result %+v, err %v, runs %d", res, err, f.runs.Load())
	}
}

// value reads a gauge or counter.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue() + m.GetCounter().GetValue()
}
