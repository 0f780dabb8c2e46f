// Package auditview answers GET /{stage}/audit with the result of the last
// audit (package audit) as JSON, and exports it as metrics.
//
// Audits run on request, not periodically: a request is answered from the
// last result while it is younger than MaxAge; otherwise it starts an
// audit (one at a time: concurrent requests wait for the same run), bounded
// by Timeout, and answers with its result. An audit reads the whole
// retained topics, so MaxAge keeps browsers polling the route from
// re-reading them.
package auditview

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/audit"
)

// Defaults of Config.
const (
	DefaultMaxAge  = time.Minute
	DefaultTimeout = time.Minute
)

// Config configures a View.
type Config struct {
	// Audit configures each audit.
	Audit audit.Config
	// Stage is the stage of the routes: other stages get 404.
	Stage string
	// MaxAge is how long a result is served before a request runs a new
	// audit; DefaultMaxAge if zero.
	MaxAge time.Duration
	// Timeout bounds one audit; DefaultTimeout if zero.
	Timeout time.Duration
	// Registerer receives the metrics; none if nil.
	Registerer prometheus.Registerer
	// Run runs one audit; audit.Run if nil (tests replace it).
	Run func(context.Context, audit.Config) (audit.Result, error)
}

// View runs audits on request and keeps the last result.
type View struct {
	cfg Config
	m   *metrics

	mu      sync.Mutex
	last    *audit.Result
	lastAt  time.Time     // when last was computed
	running chan struct{} // closed when the audit in progress ends; nil if none
	runErr  error         // outcome of the last run that failed
}

// New returns a View.
func New(cfg Config) *View {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Run == nil {
		cfg.Run = audit.Run
	}
	return &View{cfg: cfg, m: newMetrics(cfg.Registerer)}
}

// Handler serves GET /{stage}/audit: 200 with the result (drift included),
// 503 when the audit could not be done, 504 when the request gave up
// waiting for it.
func (v *View) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("stage") != v.cfg.Stage {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown stage " + r.PathValue("stage")})
			return
		}
		res, err := v.Result(r.Context())
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, res)
		case r.Context().Err() != nil:
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "the audit is still running"})
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "audit failed: " + err.Error()})
		}
	})
}

// Result returns the last result if it is younger than MaxAge, else the
// result of a new audit (shared with concurrent callers). It returns
// ctx's error if ctx ends first; the audit goes on.
func (v *View) Result(ctx context.Context) (audit.Result, error) {
	v.mu.Lock()
	if v.last != nil && time.Since(v.lastAt) < v.cfg.MaxAge {
		res := *v.last
		v.mu.Unlock()
		return res, nil
	}
	done := v.running
	if done == nil {
		done = make(chan struct{})
		v.running = done
		go v.run(done)
	}
	v.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return audit.Result{}, ctx.Err()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.runErr != nil {
		return audit.Result{}, v.runErr
	}
	return *v.last, nil
}

// run runs one audit and records its outcome.
func (v *View) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.Timeout)
	res, err := v.cfg.Run(ctx, v.cfg.Audit)
	cancel()
	v.m.record(res, err)
	v.mu.Lock()
	v.runErr = err
	if err == nil {
		v.last, v.lastAt = &res, time.Now()
	}
	v.running = nil
	v.mu.Unlock()
	close(done)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
