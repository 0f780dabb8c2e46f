package api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a request is rejected: values of the reason label of
// counter_api_rejected_total.
const (
	reasonBadID        = "bad_id"   // video identifier fails videoid rules
	reasonBadBody      = "bad_body" // body is not a valid like request
	reasonBadKey       = "bad_idempotency_key"
	reasonKeyReused    = "idempotency_key_reused" // the key was used for another request (422)
	reasonTooLarge     = "too_large"              // body over Config.MaxBodyBytes
	reasonUnavailable  = "unavailable"            // the broker did not acknowledge in time
	reasonCanceled     = "canceled"               // the client went away first
	reasonInternal     = "internal"               // any other sink failure
	reasonMethod       = "method"                 // method not allowed on the path
	reasonNotFound     = "not_found"              // no such path or stage
	reasonOrigin       = "origin"                 // CORS preflight from a refused origin
	reasonBadQuery     = "bad_query"              // invalid query parameters
	reasonConflict     = "conflict"               // the request conflicts with the state (409)
	reasonNotReady     = "not_ready"              // the live view is still loading
	reasonUnauthorized = "unauthorized"           // an admin route without a bearer token (401)
	reasonForbidden    = "forbidden"              // an admin route with a wrong token (403)
	reasonRateLimited  = "rate_limited"           // likes over the client's rate limit (429)
	reasonTimeout      = "timeout"                // the body did not arrive within the read timeout (408)
)

var rejectReasons = []string{reasonBadID, reasonBadBody, reasonBadKey, reasonKeyReused, reasonTooLarge, reasonUnavailable,
	reasonCanceled, reasonInternal, reasonMethod, reasonNotFound, reasonOrigin, reasonBadQuery, reasonConflict, reasonNotReady,
	reasonUnauthorized, reasonForbidden, reasonRateLimited, reasonTimeout}

// Route labels of requests that matched no pattern.
const (
	routePreflight = "preflight"
	routeUnmatched = "unmatched"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	accepted prometheus.Counter
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rejected *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "counter_api_likes_accepted_total",
			Help: "Likes acknowledged by the broker and answered 200.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "counter_api_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "counter_api_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "counter_api_rejected_total",
			Help: "Requests refused, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.accepted, m.requests, m.duration, m.rejected)
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	return m
}

// watchLimiter registers the gauge of the clients l holds buckets for (0
// when l is nil: likes are not limited).
func (m *metrics) watchLimiter(reg prometheus.Registerer, l *limiter) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "counter_api_rate_limit_clients",
		Help: "Clients whose like rate limit is tracked (token buckets held).",
	}, func() float64 {
		if l == nil {
			return 0
		}
		return float64(l.clients())
	}))
}

func (m *metrics) reject(reason string) { m.rejected.WithLabelValues(reason).Inc() }

func (m *metrics) observe(route string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, codeLabel(code)).Inc()
	m.duration.WithLabelValues(route).Observe(took.Seconds())
}

// codeLabels holds the label of every status code, so that labelling a
// request allocates nothing.
var codeLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func codeLabel(code int) string {
	if code >= 0 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
}
