package live

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a client's event is refused: values of the reason label of
// counter_live_refused_total.
const (
	reasonBadPayload   = "bad_payload"
	reasonTooManyRooms = "too_many_rooms"
)

func errTooMany(n, max int) error {
	return fmt.Errorf("too many rooms: %d, at most %d per client", n, max)
}

type metrics struct {
	pushes       prometheus.Counter
	snapshots    prometheus.Counter
	refused      *prometheus.CounterVec
	heldBack     prometheus.Counter
	flushSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_live_pushes_total",
			Help: "Count changes pushed to a room of Socket.IO clients (one per room, whatever its size).",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_live_snapshot_events_total",
			Help: "Current counts sent to a client when it registered rooms or consumed a window size.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "counter_live_refused_total",
			Help: "Client events refused with an error event, by reason.",
		}, []string{"reason"}),
		heldBack: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_live_held_back_total",
			Help: "Counts of an older window not sent to a client as live_aggregations_* because it was already sent a newer window (live_windows_* carry them).",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "counter_live_flush_seconds",
			Help:    "Time to push one batch of coalesced changes.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5},
		}),
	}
	m.refused.WithLabelValues(reasonBadPayload)
	m.refused.WithLabelValues(reasonTooManyRooms)
	if reg != nil {
		reg.MustRegister(m.pushes, m.snapshots, m.refused, m.heldBack, m.flushSeconds)
	}
	return m
}
