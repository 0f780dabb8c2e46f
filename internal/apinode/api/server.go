// Package api is the HTTP API: it takes likes for videos and passes them to
// a LikeSink (the Kafka producer), serves the video catalog, liveness and
// Prometheus metrics, and lets browsers of other origins call it (CORS).
// Routes of the original system are kept:
//
//	POST /{stage}/videos/{video_id}/likes   body empty, {} or {"count": n}
//	GET  /{stage}/videos/metadata           the catalog
//	GET  /healthz                           {"status":"ok"}
//	GET  /readyz                            {"status":"ready"}, or 503
//	GET  /metrics                           Prometheus text format
//
// With the optional parts of Config, it also serves:
//
//	POST   /{stage}/videos                     add a video to the Catalog
//	GET    /{stage}/videos/{video_id}/counts   the video's counts (Counts)
//	GET    /{stage}/videos/top                 top videos of a window (Counts)
//	POST   /{stage}/generator                  start a like generator run (Generator)
//	GET    /{stage}/generator                  its status
//	DELETE /{stage}/generator                  cancel it
//
// Every answer other than /metrics is JSON; errors are {"error": "..."},
// with "reason" (a videoid.Reason) added for a refused video identifier.
//
// With Config.AdminToken set, every route that changes state other than a
// like (adding a video, starting or canceling a generator run, any request
// other than GET or HEAD to a route mounted with Handle) needs the header
// "Authorization: Bearer <token>": 401 without it, 403 with a wrong token.
// With Config.LikeLimit, each client may send only so many likes a second
// (429 with Retry-After beyond).
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/httpserve"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
)

// LikeSink records likes. Send returns nil only once all the likes of l
// are durably accepted; an error wrapping ingest.ErrUnavailable means they
// were not (the API answers 503).
type LikeSink interface {
	Send(ctx context.Context, l ingest.Likes) error
}

// Config configures a Server. Zero fields take their defaults.
type Config struct {
	// Stage is the first path segment of the video routes; default "dev".
	Stage string
	// CORSOrigins are the browser origins allowed to call the API, such as
	// "https://app.example.com"; "*" allows any. Default ["*"].
	CORSOrigins []string
	// MaxBodyBytes bounds a request body; default 64 KiB. Larger bodies
	// are answered 413.
	MaxBodyBytes int64
	// Catalog, when set, serves the metadata route and adds videos;
	// otherwise the metadata route serves catalog.Samples().
	Catalog Catalog
	// Counts, when set, serves the counts and top routes.
	Counts Counts
	// Generator, when set, serves the generator routes.
	Generator Generator
	// AdminToken, when set, guards the routes that change state other
	// than a like (see the package documentation); CheckAdminToken tells a
	// usable token.
	AdminToken string
	// LikeLimit limits the likes each client may send (off if its Rate is
	// 0).
	LikeLimit LikeLimit
	// Ready reports whether the server is ready for traffic, for
	// GET /readyz; always, if nil.
	Ready func() bool
}

// Defaults of Config.
const (
	DefaultStage        = "dev"
	DefaultMaxBodyBytes = 64 << 10
)

// Server is the HTTP API. Create it with New.
type Server struct {
	stage    string
	maxBody  int64
	sink     LikeSink
	log      *slog.Logger
	mux      *http.ServeMux
	cors     cors
	metrics  *metrics
	metadata []byte // the sample catalog, encoded once (no Catalog)
	logGate  gate   // limits error logs when the broker is down

	catalog   Catalog
	counts    Counts
	generator Generator
	prefixes  []prefixRoute // served ahead of mux

	keys *keyMemory // counts of idempotent like requests, by video and key

	auth    adminAuth
	limiter *limiter // nil: likes are not limited
	trusted []netip.Prefix
}

// prefixRoute is a handler mounted for a whole path subtree.
type prefixRoute struct {
	prefix string
	h      http.Handler
}

// New returns a Server that sends likes to sink and registers its metrics
// in reg, which /metrics serves. A nil reg is replaced by a new registry,
// a nil log by slog.Default(). New panics if sink is nil or if reg already
// holds the API's metrics.
func New(cfg Config, sink LikeSink, reg *prometheus.Registry, log *slog.Logger) *Server {
	if sink == nil {
		panic("api: nil LikeSink")
	}
	if cfg.Stage == "" {
		cfg.Stage = DefaultStage
	}
	if len(cfg.CORSOrigins) == 0 {
		cfg.CORSOrigins = []string{"*"}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if log == nil {
		log = slog.Default()
	}
	metadata, err := json.Marshal(catalog.Samples())
	if err != nil {
		panic("api: encode catalog: " + err.Error()) // a fixed value: cannot happen
	}
	s := &Server{
		keys:     newKeyMemory(DefaultIdempotencyKeys),
		stage:    cfg.Stage,
		maxBody:  cfg.MaxBodyBytes,
		sink:     sink,
		log:      log,
		mux:      http.NewServeMux(),
		cors:     newCORS(cfg.CORSOrigins),
		metrics:  newMetrics(reg),
		metadata: append(metadata, '\n'),
		logGate:  gate{every: 10 * time.Second},

		catalog:   cfg.Catalog,
		counts:    cfg.Counts,
		generator: cfg.Generator,

		auth:    newAdminAuth(cfg.AdminToken),
		limiter: newLimiter(cfg.LikeLimit),
		trusted: cfg.LikeLimit.TrustedProxies,
	}
	s.cors.authorization = s.auth.on
	s.metrics.watchLimiter(reg, s.limiter)
	s.mux.HandleFunc("POST /{stage}/videos/{video_id}/likes", s.postLikes)
	s.mux.HandleFunc("GET /{stage}/videos/metadata", s.getMetadata)
	if s.catalog != nil {
		s.mux.HandleFunc("POST /{stage}/videos", s.admin(s.postVideo))
	}
	if s.counts != nil {
		s.mux.HandleFunc("GET /{stage}/videos/{video_id}/counts", s.getCounts)
		s.mux.HandleFunc("GET /{stage}/videos/top", s.getTop)
	}
	if s.generator != nil {
		s.mux.HandleFunc("POST /{stage}/generator", s.admin(s.postGenerator))
		s.mux.HandleFunc("GET /{stage}/generator", s.getGenerator)
		s.mux.HandleFunc("DELETE /{stage}/generator", s.admin(s.deleteGenerator))
	}
	s.mux.HandleFunc("GET /healthz", s.getHealth)
	ready := cfg.Ready
	if ready == nil {
		ready = func() bool { return true }
	}
	s.mux.Handle("GET /readyz", httpserve.Ready(ready, "starting"))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return s
}

// Handle mounts h at pattern (http.ServeMux syntax, such as
// "GET /{stage}/cluster") beside the API routes, with the same CORS
// headers, JSON 404/405 answers and request metrics. Requests other than
// GET and HEAD need the admin token, if one is configured. It panics if
// pattern conflicts with a route already mounted; a subtree such as
// "/socket.io/" does (it overlaps /{stage}/videos/metadata): mount it with
// HandlePrefix.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.adminUnlessRead(h))
}

// HandlePrefix mounts h for every path that starts with prefix (such as
// "/socket.io/"), whatever the method, ahead of the other routes: a
// subtree pattern would conflict with the /{stage}/... routes in the
// ServeMux. Requests get the same CORS headers and request metrics (route
// label: the prefix), but no admin check: h must not change state other
// than its own sessions (Socket.IO). It must be called before the server
// is used.
func (s *Server) HandlePrefix(prefix string, h http.Handler) {
	s.prefixes = append(s.prefixes, prefixRoute{prefix, h})
}

// Handler returns the handler serving every route. Routes added later with
// Handle are served too.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

// serve answers CORS preflight requests, routes the others, and measures.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, req: r}
	origin := r.Header.Get("Origin")
	route := routePreflight
	if isPreflight(r) {
		s.preflight(rec, origin)
	} else if p := s.prefixRoute(r.URL.Path); p != nil {
		s.cors.decorate(rec.Header(), origin)
		p.h.ServeHTTP(rec, r)
		route = p.prefix
	} else {
		s.cors.decorate(rec.Header(), origin)
		s.mux.ServeHTTP(rec, r) // sets r.Pattern
		route = r.Pattern
	}
	code := rec.status
	if code == 0 {
		code = http.StatusOK // nothing written: net/http answers 200
	}
	if route == "" {
		route = routeUnmatched
		switch code {
		case http.StatusNotFound:
			s.metrics.reject(reasonNotFound)
		case http.StatusMethodNotAllowed:
			s.metrics.reject(reasonMethod)
		}
	}
	s.metrics.observe(route, code, time.Since(start))
}

func (s *Server) prefixRoute(path string) *prefixRoute {
	for i := range s.prefixes {
		if strings.HasPrefix(path, s.prefixes[i].prefix) {
			return &s.prefixes[i]
		}
	}
	return nil
}

func (s *Server) getMetadata(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) {
		return
	}
	if s.catalog == nil {
		writeJSON(w, http.StatusOK, s.metadata)
		return
	}
	writeValue(w, http.StatusOK, s.catalog.List())
}

var healthBody = []byte(`{"status":"ok"}` + "\n")

func (s *Server) getHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthBody)
}

// checkStage answers 404 and returns false if the path's stage is not ours.
func (s *Server) checkStage(w http.ResponseWriter, r *http.Request) bool {
	if stage := r.PathValue("stage"); stage != s.stage {
		s.metrics.reject(reasonNotFound)
		writeError(w, http.StatusNotFound, "unknown stage "+abbreviate([]byte(stage))+" (this server serves "+s.stage+")", "")
		return false
	}
	return true
}

// NewHTTPServer returns an http.Server for h with the default limits
// against slow, idle and oversized clients (httpserve.DefaultLimits).
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return httpserve.NewServer(addr, h, httpserve.DefaultLimits(), nil)
}
