package auditview

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/audit"
)

// Values of the result label of counter_audit_runs_total.
const (
	resultOK    = "ok"
	resultDrift = "drift"
	resultError = "error"
)

type metrics struct {
	checked  prometheus.Gauge
	drifting prometheus.Gauge
	lastRun  prometheus.Gauge
	runs     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		checked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_audit_windows_checked",
			Help: "(video, window) pairs checked by the last audit.",
		}),
		drifting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_audit_drift_windows",
			Help: "(video, window) pairs whose finals did not match the recount in the last audit (plus malformed finals).",
		}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_audit_last_run_timestamp_seconds",
			Help: "Unix time of the last audit that completed.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "counter_audit_runs_total",
			Help: "Audits run, by result (ok, drift, error).",
		}, []string{"result"}),
	}
	for _, r := range []string{resultOK, resultDrift, resultError} {
		m.runs.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.checked, m.drifting, m.lastRun, m.runs)
	}
	return m
}

// record sets the gauges from the result of a completed audit and counts
// the run.
func (m *metrics) record(res audit.Result, err error) {
	switch {
	case err != nil:
		m.runs.WithLabelValues(resultError).Inc()
		return
	case res.OK():
		m.runs.WithLabelValues(resultOK).Inc()
	default:
		m.runs.WithLabelValues(resultDrift).Inc()
	}
	m.checked.Set(float64(res.Checked))
	m.drifting.Set(float64(res.Drifting) + float64(res.Input.MalformedFinals))
	m.lastRun.Set(float64(res.At.UnixNano()) / 1e9)
}
