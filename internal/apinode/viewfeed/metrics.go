package viewfeed

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/view"
)

// resultBad labels output records that are not valid aggregations.
const resultBad = "bad_record"

type metrics struct {
	records *prometheus.CounterVec
	delay   prometheus.Histogram
	ready   prometheus.Gauge
	windows prometheus.Gauge
	counts  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "counter_view_records_total",
			Help: "Output records read into the live view, by result (applied, unchanged, stale, unknown_size, bad_record).",
		}, []string{"result"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "counter_view_apply_delay_seconds",
			Help:    "Time from an output record's timestamp (its production) to its application to the live view.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_view_ready",
			Help: "1 once the live view has caught up with the output topics.",
		}),
		windows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_view_windows",
			Help: "Windows held by the live view.",
		}),
		counts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_view_counts",
			Help: "(video, window) counts held by the live view.",
		}),
	}
	for _, r := range []view.Result{view.Applied, view.Unchanged, view.Stale, view.UnknownSize} {
		m.records.WithLabelValues(r.String())
	}
	m.records.WithLabelValues(resultBad)
	if reg != nil {
		reg.MustRegister(m.records, m.delay, m.ready, m.windows, m.counts)
	}
	return m
}
