package generator

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	leader     prometheus.Gauge
	sent       prometheus.Counter
	skipped    prometheus.Counter
	sendErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "counter_generator_leader",
			Help: "1 while this instance is the elected runner of the like generator.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_generator_likes_sent_total",
			Help: "Likes the generator sent and the broker acknowledged (a resent slice counts again; the workers count it once).",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_generator_likes_skipped_total",
			Help: "Likes of the generator given up on because their step was over.",
		}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_generator_send_errors_total",
			Help: "Failed attempts to send a slice of likes of one video (retried).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.leader, m.sent, m.skipped, m.sendErrors)
	}
	return m
}
