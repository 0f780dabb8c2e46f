package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/ingest"
)

type nopSink struct{}

func (nopSink) Send(context.Context, ingest.Likes) error { return nil }

var testConfig = Config{Stage: "dev", GraceMs: 1000, GeneratorSteps: 10, Windows: []Window{
	{Label: "2s", SizeMs: 2000, ConsumeEvent: "consume_windows_2s", LiveEvent: "live_windows_2s"},
}}

// serve mounts p beside the API routes, as apinode does.
func serve(t *testing.T, p *Page) *httptest.Server {
	t.Helper()
	s := api.New(api.Config{Stage: p.cfg.Stage}, nopSink{}, nil, nil)
	p.Mount(s)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

var built = fstest.MapFS{
	"index.html":       {Data: []byte(`<meta name="counter-stage" content="__COUNTER_STAGE__"><script src="/assets/app-1.js"></script>`)},
	"assets/app-1.js":  {Data: []byte("console.log(1)")},
	"assets/app-1.css": {Data: []byte("body{}")},
}

func TestBuiltPage(t *testing.T) {
	cfg := testConfig
	cfg.Stage = "prod"
	p := newPage(cfg, built)
	if !p.Built() {
		t.Fatal("Built() = false with an index.html")
	}
	srv := serve(t, p)
	code, h, body := get(t, srv.URL+"/")
	if code != 200 || !strings.Contains(body, `content="prod"`) || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q %q, want the page with the stage filled in", code, h.Get("Content-Type"), body)
	}
	if h.Get("Content-Security-Policy") == "" {
		t.Error("the page has no Content-Security-Policy")
	}
	code, h, body = get(t, srv.URL+"/assets/app-1.js")
	if code != 200 || body != "console.log(1)" || !strings.Contains(h.Get("Cache-Control"), "immutable") {
		t.Fatalf("GET /assets/app-1.js = %d %q (Cache-Control %q)", code, body, h.Get("Cache-Control"))
	}
	for _, path := range []string{"/assets/", "/assets/missing.js", "/index.html"} {
		if code, _, _ := get(t, srv.URL+path); code != 404 {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
}

func TestPlaceholderWithoutBundle(t *testing.T) {
	p := newPage(testConfig, fstest.MapFS{})
	if p.Built() {
		t.Fatal("Built() = true without a bundle")
	}
	srv := serve(t, p)
	code, _, body := get(t, srv.URL+"/")
	if code != 200 || !strings.Contains(body, "npm run build") || !strings.Contains(body, "/dev/videos/metadata") {
		t.Fatalf("GET / = %d %q, want the placeholder saying how to build the page", code, body)
	}
	if code, _, _ := get(t, srv.URL+"/assets/app-1.js"); code != 404 {
		t.Errorf("GET /assets/app-1.js without a bundle = %d, want 404", code)
	}
}

// The embedded bundle folder always holds something, so the binary builds
// without Node; New serves whichever page it holds.
func TestEmbeddedBundle(t *testing.T) {
	p := New(testConfig)
	srv := serve(t, p)
	code, _, body := get(t, srv.URL+"/")
	if code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	t.Logf("built page embedded: %v", p.Built())
}

func TestConfigRoute(t *testing.T) {
	srv := serve(t, newPage(testConfig, built))
	code, h, body := get(t, srv.URL+"/dev/config")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /dev/config = %d %q", code, h.Get("Content-Type"))
	}
	var got Config
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Stage != "dev" || got.GraceMs != 1000 || got.GeneratorSteps != 10 || len(got.Windows) != 1 || got.Windows[0] != testConfig.Windows[0] {
		t.Fatalf("GET /dev/config = %+v, want %+v", got, testConfig)
	}
	if code, _, body := get(t, srv.URL+"/other/config"); code != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("GET /other/config = %d %q, want a JSON 404", code, body)
	}
}

// The page does not shadow the API: unknown routes keep their JSON 404,
// the API's routes answer as before.
func TestPageLeavesAPIRoutes(t *testing.T) {
	srv := serve(t, newPage(testConfig, built))
	for path, want := range map[string]int{"/healthz": 200, "/dev/videos/metadata": 200, "/metrics": 200} {
		if code, _, _ := get(t, srv.URL+path); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
	for _, path := range []string{"/dev/nothing", "/nothing", "/dev"} {
		code, h, body := get(t, srv.URL+path)
		if code != 404 || h.Get("Content-Type") != "application/json" || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s = %d %q %q, want the API's JSON 404", path, code, h.Get("Content-Type"), body)
		}
	}
	res, err := http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", res.StatusCode)
	}
}

// With the stage "assets", the page's files would shadow the API's routes:
// only the config route is mounted.
func TestStageAssets(t *testing.T) {
	cfg := testConfig
	cfg.Stage = "assets"
	srv := serve(t, newPage(cfg, built))
	if code, _, _ := get(t, srv.URL+"/assets/videos/metadata"); code != 200 {
		t.Errorf("GET /assets/videos/metadata = %d, want 200 (the API's)", code)
	}
	if code, _, _ := get(t, srv.URL+"/assets/config"); code != 200 {
		t.Errorf("GET /assets/config = %d, want 200", code)
	}
}
