package socketio

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons: the values of the reason label of
// counter_socketio_dropped_total.
const (
	DropSlowClient      = "slow_client"       // send queue full or write timed out
	DropPingTimeout     = "ping_timeout"      // no pong in time
	DropPayloadTooLarge = "payload_too_large" // message above MaxPayload
	DropProtocolError   = "protocol_error"    // malformed packet or illegal state
	DropUnknownEvent    = "unknown_event"     // event with no handler, ignored
)

var dropReasons = []string{DropSlowClient, DropPingTimeout, DropPayloadTooLarge, DropProtocolError, DropUnknownEvent}

// metrics are always live; they are exported only when a Registerer is given.
type metrics struct {
	connections prometheus.Gauge
	dropped     *prometheus.CounterVec
	sent        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_socketio_connections",
			Help: "Socket.IO connections to the main namespace.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "counter_socketio_dropped_total",
			Help: "Clients the server closed, and inbound events it ignored, by reason.",
		}, []string{"reason"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_socketio_messages_sent_total",
			Help: "Engine.IO message packets (Socket.IO packets) written to clients.",
		}),
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	m.connections = register(reg, m.connections, log)
	m.dropped = register(reg, m.dropped, log)
	m.sent = register(reg, m.sent, log)
	return m
}

// register registers c, or returns the collector already registered under
// its name, so that several servers can share a registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, log *slog.Logger) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	log.Warn("socketio: metric not registered", "err", err)
	return c
}
