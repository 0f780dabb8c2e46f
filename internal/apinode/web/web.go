// Package web serves counter's web page: a single-page app (React and
// TypeScript, built by Vite from the repository's web/ folder) embedded in
// the binary, and the small read-only route it starts from,
// GET /{stage}/config (the stage, the window sizes and their Socket.IO
// events, the grace).
//
// The bundle is embedded from bundle/app, which `npm run build` in web/
// writes and git ignores. The pattern is `all:bundle`, not `bundle/app`: a
// go:embed pattern that matches nothing does not compile, so the folder
// keeps a committed README (and .gitignore) that Vite never touches — its
// build empties only app/. A binary built by Go alone therefore compiles
// and answers / with placeholder.html, which says how to build the page;
// a build of the page leaves the work tree clean.
//
// The page is served at / only, its files under /assets/: every other path
// stays the API's (/{stage}/..., /healthz, /metrics, /socket.io/), with its
// JSON 404 for unknown routes.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"html"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:bundle
var bundle embed.FS

//go:embed placeholder.html
var placeholder []byte

// AssetsPrefix is the path under which the page's files (scripts, styles)
// are served; Vite's build writes them to assets/.
const AssetsPrefix = "/assets/"

// stageMarker in index.html is replaced by the stage, so that the page
// knows where the API routes are.
const stageMarker = "__COUNTER_STAGE__"

// Config is the answer of GET /{stage}/config: what the page (or any
// client) needs to know of the server's settings.
type Config struct {
	// Stage is the first path segment of the API routes.
	Stage string `json:"stage"`
	// Windows are the window sizes, smallest first.
	Windows []Window `json:"windows"`
	// GraceMs is how long after its end a window still accepts likes:
	// its final comes about that long after its end.
	GraceMs int64 `json:"grace_ms"`
	// GeneratorSteps is the number of steps of a like generator run; a
	// step lasts the smallest window size.
	GeneratorSteps int `json:"generator_steps"`
}

// Window is one configured window size and its Socket.IO events.
type Window struct {
	// Label names the size, as in output records ("1min", "2s").
	Label string `json:"label"`
	// SizeMs is the size in milliseconds.
	SizeMs int64 `json:"size_ms"`
	// ConsumeEvent is the event a client sends to receive every window of
	// this size, late finals included (consume_windows_1min).
	ConsumeEvent string `json:"consume_event"`
	// LiveEvent is the event carrying those counts (live_windows_1min).
	LiveEvent string `json:"live_event"`
}

// Mounter is where the page's routes are mounted: api.Server.
type Mounter interface {
	Handle(pattern string, h http.Handler)
	HandlePrefix(prefix string, h http.Handler)
}

// Page serves the web page and its config route.
type Page struct {
	cfg    Config
	index  []byte       // index.html with the stage filled in
	assets http.Handler // files of the bundle; nil without a bundle
}

// New returns the page for cfg, with the embedded bundle if the binary has
// one, the placeholder otherwise.
func New(cfg Config) *Page {
	app, err := fs.Sub(bundle, "bundle/app")
	if err != nil {
		panic("web: " + err.Error()) // a constant, valid path: cannot happen
	}
	return newPage(cfg, app)
}

// newPage returns the page for cfg with the built page in app (index.html
// and assets/), or the placeholder if app has no index.html.
func newPage(cfg Config, app fs.FS) *Page {
	if cfg.Windows == nil {
		cfg.Windows = []Window{}
	}
	p := &Page{cfg: cfg}
	index, err := fs.ReadFile(app, "index.html")
	if err != nil {
		index = placeholder
	} else {
		p.assets = http.FileServerFS(app)
	}
	p.index = bytes.ReplaceAll(index, []byte(stageMarker), []byte(html.EscapeString(cfg.Stage)))
	return p
}

// Built reports whether the binary holds the built page (not the
// placeholder).
func (p *Page) Built() bool { return p.assets != nil }

// Mount adds the routes GET / (the page), AssetsPrefix (its files) and
// GET /{stage}/config to m. With the stage "assets", whose API routes
// AssetsPrefix would shadow, only the config route is mounted.
func (p *Page) Mount(m Mounter) {
	m.Handle("GET /{stage}/config", http.HandlerFunc(p.serveConfig))
	if AssetsPrefix == "/"+p.cfg.Stage+"/" {
		return
	}
	m.Handle("GET /{$}", http.HandlerFunc(p.serveIndex))
	m.HandlePrefix(AssetsPrefix, http.HandlerFunc(p.serveAsset))
}

// securityHeaders keeps the page to its own origin: scripts, styles,
// connections (the API and Socket.IO) and images (data: URLs of the
// generated pictures) only from there.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
}

func (p *Page) serveIndex(w http.ResponseWriter, _ *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(p.index)
}

func (p *Page) serveAsset(w http.ResponseWriter, r *http.Request) {
	if p.assets == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) || strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r) // no bundle, a wrong method or a directory listing
		return
	}
	securityHeaders(w.Header())
	// Vite names the files by their content's hash.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	p.assets.ServeHTTP(w, r)
}

func (p *Page) serveConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.PathValue("stage") != p.cfg.Stage {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "unknown stage " + r.PathValue("stage") + " (this server serves " + p.cfg.Stage + ")"})
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	json.NewEncoder(w).Encode(p.cfg)
}
