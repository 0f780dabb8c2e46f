package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeSink records the likes it is given and answers with err.
type fakeSink struct {
	mu    sync.Mutex
	err   error
	calls []string // "id*n"
}

func (f *fakeSink) Send(_ context.Context, l ingest.Likes) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := fmt.Sprintf("%s*%d", l.VideoID, l.Count)
	if l.IdempotencyKey != "" {
		call += "#" + l.IdempotencyKey
	}
	f.calls = append(f.calls, call)
	return f.err
}

func (f *fakeSink) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

type fixture struct {
	srv  *Server
	sink *fakeSink
	reg  *prometheus.Registry
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{sink: &fakeSink{}, reg: prometheus.NewRegistry()}
	f.srv = New(cfg, f.sink, f.reg, quiet)
	return f
}

// do serves one request; body "" sends none. Extra headers come in pairs.
func (f *fixture) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	return w
}

// decode returns the JSON object of a response, failing on anything else.
func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, body %q", ct, w.Body.String())
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return m
}

const likesPath = "/dev/videos/" + goodID + "/likes"

func TestLikesAccepted(t *testing.T) {
	f := newFixture(t, Config{})
	for _, tc := range []struct {
		body string
		want float64
	}{{"", 1}, {"{}", 1}, {`{"count":5}`, 5}} {
		before := time.Now().Truncate(time.Millisecond)
		w := f.do("POST", likesPath, tc.body)
		after := time.Now()
		m := decode(t, w)
		ts, err := time.Parse(time.RFC3339Nano, w.Header().Get(EventTimeHeader))
		if w.Code != 200 || m["video_id"] != goodID || m["accepted"] != tc.want || len(m) != 2 {
			t.Errorf("body %q: %d %q, want 200 with video_id and accepted %v", tc.body, w.Code, w.Body.String(), tc.want)
		}
		if err != nil || ts.Before(before) || ts.After(after) {
			t.Errorf("event time header %q, want a time between %v and %v", w.Header().Get(EventTimeHeader), before, after)
		}
	}
	if got, want := f.sink.got(), goodID+"*1,"+goodID+"*1,"+goodID+"*5"; got != want {
		t.Errorf("sink got %s, want %s", got, want)
	}
}

func TestLikesChunkedBody(t *testing.T) {
	f := newFixture(t, Config{})
	r := httptest.NewRequest("POST", likesPath, io.NopCloser(strings.NewReader(`{"count":2}`)))
	if r.ContentLength != -1 {
		t.Fatalf("ContentLength %d, want unknown", r.ContentLength)
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	if w.Code != 200 || f.sink.got() != goodID+"*2" {
		t.Fatalf("%d %s, sink %s", w.Code, w.Body, f.sink.got())
	}
}

func TestLikesBadRequest(t *testing.T) {
	f := newFixture(t, Config{})
	for _, tc := range []struct{ path, body, msg, reason string }{
		{"/dev/videos/bad%20id/likes", "", "invalid video id", "bad_chars"},
		{"/dev/videos/a%2Fb/likes", "", "invalid video id", "bad_chars"}, // decoded before checking
		{"/dev/videos/%FF/likes", "", "invalid video id", "invalid_utf8"},
		{"/dev/videos/" + strings.Repeat("x", 129) + "/likes", "", "invalid video id", "too_long"},
		{likesPath, "{", "invalid JSON body", ""},
		{likesPath, `{"count":0}`, "count must be an integer from 1 to 10000, got 0", ""},
		{likesPath, `{"count":10001}`, "got 10001", ""},
		{likesPath, `{"count":1.5}`, "got 1.5", ""},
		{likesPath, `{"count":5,"by":"me"}`, `unknown field "by"`, ""},
		{likesPath, `{"count":5} {}`, "unexpected data", ""},
	} {
		w := f.do("POST", tc.path, tc.body)
		m := decode(t, w)
		msg, _ := m["error"].(string)
		reason, _ := m["reason"].(string)
		if w.Code != 400 || !strings.Contains(msg, tc.msg) || reason != tc.reason {
			t.Errorf("%s %q: %d %s; want 400 with %q, reason %q", tc.path, tc.body, w.Code, w.Body, tc.msg, tc.reason)
		}
	}
	if got := f.sink.got(); got != "" {
		t.Errorf("sink got likes of bad requests: %s", got)
	}
}

func TestLikesTooLarge(t *testing.T) {
	f := newFixture(t, Config{MaxBodyBytes: 16})
	big := `{"count":5}` + strings.Repeat(" ", 16)
	w := f.do("POST", likesPath, big) // Content-Length known
	if w.Code != 413 || !strings.Contains(decode(t, w)["error"].(string), "larger than 16 bytes") {
		t.Errorf("known length: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest("POST", likesPath, io.NopCloser(strings.NewReader(big)))
	w = httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r) // Content-Length unknown
	if w.Code != 413 {
		t.Errorf("unknown length: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", likesPath, `{"count":5}`); w.Code != 200 {
		t.Errorf("small body: %d %s", w.Code, w.Body)
	}
	if got := f.sink.got(); got != goodID+"*5" {
		t.Errorf("sink got %s", got)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, Config{})
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", likesPath, "POST"},
		{"PUT", likesPath, "POST"},
		{"DELETE", "/dev/videos/metadata", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		w := f.do(tc.method, tc.path, "")
		msg, _ := decode(t, w)["error"].(string)
		if w.Code != 405 || w.Header().Get("Allow") != tc.allow || !strings.Contains(msg, "not allowed") {
			t.Errorf("%s %s: %d Allow=%q %s", tc.method, tc.path, w.Code, w.Header().Get("Allow"), w.Body)
		}
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t, Config{})
	for _, tc := range []struct{ method, path, msg string }{
		{"POST", "/prod/videos/" + goodID + "/likes", `unknown stage prod`},
		{"GET", "/prod/videos/metadata", "unknown stage prod"},
		{"GET", "/nope", "not found: /nope"},
		{"POST", "/dev/videos/" + goodID, "not found"},
		{"GET", "/", "not found"},
	} {
		w := f.do(tc.method, tc.path, "")
		msg, _ := decode(t, w)["error"].(string)
		if w.Code != 404 || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s: %d %s, want 404 with %q", tc.method, tc.path, w.Code, w.Body, tc.msg)
		}
	}
	if got := f.sink.got(); got != "" {
		t.Errorf("sink got %s", got)
	}
}

func TestCustomStage(t *testing.T) {
	f := newFixture(t, Config{Stage: "prod"})
	if w := f.do("POST", "/prod/videos/"+goodID+"/likes", ""); w.Code != 200 {
		t.Errorf("prod stage: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", likesPath, ""); w.Code != 404 {
		t.Errorf("dev stage on a prod server: %d %s", w.Code, w.Body)
	}
}

func TestSinkFailures(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		prefix string
	}{
		{fmt.Errorf("%w: 1 of 1 likes not acknowledged: dial refused", ingest.ErrUnavailable), 503, "broker unavailable: 1 of 1 likes not acknowledged"},
		{fmt.Errorf("produce: %w", ingest.ErrUnavailable), 503, "broker unavailable: produce: broker unavailable"},
		{context.DeadlineExceeded, 503, "broker unavailable: context deadline exceeded"},
		{errors.New("disk on fire"), 500, "internal error"},
	} {
		f := newFixture(t, Config{})
		f.sink.err = tc.err
		w := f.do("POST", likesPath, `{"count":2}`)
		msg, _ := decode(t, w)["error"].(string)
		if w.Code != tc.code || !strings.HasPrefix(msg, tc.prefix) {
			t.Errorf("sink error %v: %d %q, want %d %q", tc.err, w.Code, msg, tc.code, tc.prefix)
		}
		if tc.code == 503 && w.Header().Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		if tc.code == 500 && strings.Contains(w.Body.String(), "fire") {
			t.Errorf("500 leaks the error: %s", w.Body)
		}
		if v := counterValue(t, f.reg, "counter_api_likes_accepted_total", nil); v != 0 {
			t.Errorf("accepted %v likes the sink refused", v)
		}
	}
}

func TestClientGone(t *testing.T) {
	f := newFixture(t, Config{})
	f.sink.err = context.Canceled
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, "POST", likesPath, nil)
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	if w.Code != statusClientClosed {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	if v := counterValue(t, f.reg, "counter_api_rejected_total", map[string]string{"reason": "canceled"}); v != 1 {
		t.Errorf("rejected{canceled} = %v", v)
	}
}

func TestCORSAnyOrigin(t *testing.T) {
	f := newFixture(t, Config{})
	w := f.do("OPTIONS", likesPath, "", "Origin", "https://ui.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	h := w.Header()
	if w.Code != 204 || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		h.Get("Access-Control-Allow-Headers") != "Content-Type, Idempotency-Key" ||
		h.Get("Access-Control-Max-Age") == "" || h.Get("Vary") != "" {
		t.Errorf("preflight: %d %v", w.Code, h)
	}
	w = f.do("POST", likesPath, "", "Origin", "https://ui.example")
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("POST: %d %v", w.Code, w.Header())
	}
	w = f.do("GET", "/nope", "", "Origin", "https://ui.example")
	if w.Code != 404 || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("404 without CORS header: %v", w.Header())
	}
	if w := f.do("GET", "/healthz", ""); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS header without Origin: %v", w.Header())
	}
}

func TestCORSAllowList(t *testing.T) {
	f := newFixture(t, Config{CORSOrigins: []string{"https://ui.example/", "http://localhost:3001"}})
	w := f.do("OPTIONS", likesPath, "", "Origin", "https://ui.example", "Access-Control-Request-Method", "POST")
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://ui.example" || w.Header().Get("Vary") != "Origin" {
		t.Errorf("allowed preflight: %d %v", w.Code, w.Header())
	}
	w = f.do("OPTIONS", likesPath, "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight: %d %v", w.Code, w.Header())
	}
	w = f.do("GET", "/dev/videos/metadata", "", "Origin", "http://localhost:3001")
	if w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3001" || w.Header().Get("Vary") != "Origin" {
		t.Errorf("allowed GET: %v", w.Header())
	}
	w = f.do("GET", "/dev/videos/metadata", "", "Origin", "https://evil.example")
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" {
		t.Errorf("other origin GET: %d %v", w.Code, w.Header())
	}
	if v := counterValue(t, f.reg, "counter_api_rejected_total", map[string]string{"reason": "origin"}); v != 1 {
		t.Errorf("rejected{origin} = %v", v)
	}
}

func TestOptionsWithoutPreflightHeaders(t *testing.T) {
	f := newFixture(t, Config{})
	if w := f.do("OPTIONS", likesPath, ""); w.Code != 405 {
		t.Errorf("%d %v", w.Code, w.Header())
	}
}

func TestMetadata(t *testing.T) {
	f := newFixture(t, Config{})
	w1, w2 := f.do("GET", "/dev/videos/metadata", ""), f.do("GET", "/dev/videos/metadata", "")
	if w1.Code != 200 || w1.Body.String() != w2.Body.String() {
		t.Fatalf("%d, bodies differ:\n%s\n%s", w1.Code, w1.Body, w2.Body)
	}
	var videos []map[string]string
	if err := json.Unmarshal(w1.Body.Bytes(), &videos); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, v := range videos {
		if v["unique_identifier"] == "" || v["title"] == "" {
			t.Errorf("incomplete entry %v", v)
		}
		ids[v["unique_identifier"]] = true
	}
	if !ids[catalog.DemoID1] || !ids[catalog.DemoID2] || len(videos) != len(catalog.Samples()) {
		t.Errorf("catalog %v lacks a demo id", ids)
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t, Config{})
	w := f.do("GET", "/healthz", "")
	if w.Code != 200 || decode(t, w)["status"] != "ok" {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestHandleMountsWithCORSAndMetrics(t *testing.T) {
	f := newFixture(t, Config{})
	f.srv.Handle("GET /extra/{x}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "extra "+r.PathValue("x"))
	}))
	w := f.do("GET", "/extra/1", "", "Origin", "https://ui.example")
	if w.Code != 200 || w.Body.String() != "extra 1" || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("%d %q %v", w.Code, w.Body, w.Header())
	}
	if v := counterValue(t, f.reg, "counter_api_requests_total", map[string]string{"route": "GET /extra/{x}", "code": "200"}); v != 1 {
		t.Errorf("requests{GET /extra/{x},200} = %v", v)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, Config{})
	f.do("POST", likesPath, "")
	f.do("POST", likesPath, `{"count":5}`)
	f.do("POST", "/dev/videos/bad%20id/likes", "")
	f.do("POST", likesPath, `{"count":0}`)
	f.do("GET", likesPath, "")
	f.do("GET", "/nope", "")
	f.do("POST", likesPath, strings.Repeat("x", DefaultMaxBodyBytes+1))
	f.sink.err = ingest.ErrUnavailable
	f.do("POST", likesPath, "")

	likes := map[string]string{"route": "POST /{stage}/videos/{video_id}/likes"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"counter_api_likes_accepted_total", nil, 6},
		{"counter_api_requests_total", map[string]string{"route": likes["route"], "code": "200"}, 2},
		{"counter_api_requests_total", map[string]string{"route": likes["route"], "code": "400"}, 2},
		{"counter_api_requests_total", map[string]string{"route": likes["route"], "code": "413"}, 1},
		{"counter_api_requests_total", map[string]string{"route": likes["route"], "code": "503"}, 1},
		{"counter_api_requests_total", map[string]string{"route": "unmatched", "code": "405"}, 1},
		{"counter_api_requests_total", map[string]string{"route": "unmatched", "code": "404"}, 1},
		{"counter_api_rejected_total", map[string]string{"reason": "bad_id"}, 1},
		{"counter_api_rejected_total", map[string]string{"reason": "bad_body"}, 1},
		{"counter_api_rejected_total", map[string]string{"reason": "too_large"}, 1},
		{"counter_api_rejected_total", map[string]string{"reason": "unavailable"}, 1},
		{"counter_api_rejected_total", map[string]string{"reason": "method"}, 1},
		{"counter_api_rejected_total", map[string]string{"reason": "not_found"}, 1},
		{"counter_api_rejected_total", map[string]string{"reason": "internal"}, 0},
		{"counter_api_request_duration_seconds", likes, 6}, // sample count
	} {
		if got := counterValue(t, f.reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	w := f.do("GET", "/metrics", "")
	for _, want := range []string{
		"counter_api_likes_accepted_total 6",
		`counter_api_requests_total{code="200",route="POST /{stage}/videos/{video_id}/likes"} 2`,
		`counter_api_rejected_total{reason="bad_id"} 1`,
		`counter_api_request_duration_seconds_bucket{route="POST /{stage}/videos/{video_id}/likes",le="+Inf"} 6`,
	} {
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, w.Body)
		}
	}
}

// counterValue returns the value of a counter, or the sample count of a
// histogram, with exactly the given labels; 0 if there is none.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	metric:
		for _, m := range fam.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestNewHTTPServerTimeouts(t *testing.T) {
	s := NewHTTPServer(":0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 || s.Handler == nil {
		t.Errorf("%+v", s)
	}
}

type nopSink struct{}

func (nopSink) Send(context.Context, ingest.Likes) error { return nil }

// BenchmarkPostLike measures the handler alone (no network, no broker).
func BenchmarkPostLike(b *testing.B) {
	h := New(Config{}, nopSink{}, nil, quiet).Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("POST", likesPath, nil)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}

// Handlers mounted with Handle can stream and take over the connection, as
// WebSocket servers do, through the metrics wrapper.
func TestHandleFlushAndHijack(t *testing.T) {
	f := newFixture(t, Config{})
	f.srv.Handle("GET /stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}))
	f.srv.Handle("GET /upgrade", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		buf.Flush()
	}))
	upgraded := make(chan struct{}) // closed once /upgrade is measured
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.srv.Handler().ServeHTTP(w, r)
		if r.URL.Path == "/upgrade" {
			close(upgraded)
		}
	}))
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "part1\n" {
		t.Errorf("stream: %s %q", resp.Status, body)
	}

	req, _ := http.NewRequest("GET", ts.URL+"/upgrade", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "test")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("upgrade: %s", resp.Status)
	}
	<-upgraded
	for route, code := range map[string]string{"GET /stream": "200", "GET /upgrade": "101"} {
		if v := counterValue(t, f.reg, "counter_api_requests_total", map[string]string{"route": route, "code": code}); v != 1 {
			t.Errorf("requests{%s,%s} = %v", route, code, v)
		}
	}
}

func TestGate(t *testing.T) {
	g := gate{every: time.Hour}
	if !g.open() || g.open() {
		t.Fatal("gate should open once per period")
	}
	g.next.Store(0)
	if !g.open() {
		t.Fatal("gate did not reopen")
	}
}

func TestLikesIdempotencyKey(t *testing.T) {
	f := newFixture(t, Config{})
	req := func(keys ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", likesPath, strings.NewReader(`{"count":2}`))
		for _, k := range keys {
			r.Header.Add("Idempotency-Key", k)
		}
		w := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(w, r)
		return w
	}
	first := req("order-42:retry")
	if first.Code != 200 {
		t.Fatalf("valid key: %d %s", first.Code, first.Body.String())
	}
	if again := req("order-42:retry"); again.Code != 200 || again.Body.String() != first.Body.String() {
		t.Errorf("retry answered %d %q, the original %q", again.Code, again.Body.String(), first.Body.String())
	}
	if got, want := f.sink.got(), goodID+"*2#order-42:retry,"+goodID+"*2#order-42:retry"; got != want {
		t.Errorf("sink got %s, want %s", got, want)
	}
	for _, bad := range [][]string{{""}, {"has space"}, {strings.Repeat("k", MaxIdempotencyKeyLen+1)}, {"a", "b"}, {"caf\u00e9"}} {
		if w := req(bad...); w.Code != 400 || !strings.Contains(w.Body.String(), "Idempotency-Key") {
			t.Errorf("key %q: %d %s, want 400", bad, w.Code, w.Body.String())
		}
	}
}

// Issue 10: a key reused with another count is refused with 422 and a JSON
// error, and nothing is sent; the same key for another video is another
// request.
func TestLikesIdempotencyKeyReusedForAnotherRequest(t *testing.T) {
	f := newFixture(t, Config{})
	post := func(path, body string) *httptest.ResponseRecorder {
		return f.do("POST", path, body, "Idempotency-Key", "order-7")
	}
	if w := post(likesPath, `{"count":3}`); w.Code != 200 {
		t.Fatalf("first request: %d %s", w.Code, w.Body)
	}
	w := post(likesPath, `{"count":4}`)
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("key reused with another count: %d %s, want 422", w.Code, w.Body)
	}
	if msg, _ := decode(t, w)["error"].(string); !strings.Contains(msg, "order-7") || !strings.Contains(msg, "count 3") {
		t.Errorf("error %q does not name the key and the original count", msg)
	}
	if w := post(likesPath, ""); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("key reused for one like: %d, want 422", w.Code)
	}
	if w := post(likesPath, `{"count":3}`); w.Code != 200 {
		t.Errorf("retry of the original after a refused reuse: %d %s", w.Code, w.Body)
	}
	if w := post("/dev/videos/other-video/likes", `{"count":4}`); w.Code != 200 {
		t.Errorf("same key for another video: %d %s", w.Code, w.Body)
	}
	if got, want := f.sink.got(), goodID+"*3#order-7,"+goodID+"*3#order-7,other-video*4#order-7"; got != want {
		t.Errorf("sink got %s, want %s", got, want)
	}
}

func TestKeyMemoryIsBoundedAndKeepsRecentKeys(t *testing.T) {
	m := newKeyMemory(4)
	claim := func(key string, n int) bool {
		_, ok := m.claim("v", key, n)
		return ok
	}
	for i, k := range []string{"a", "b", "c"} { // c starts a new generation
		if !claim(k, i) {
			t.Fatalf("new key %s refused", k)
		}
	}
	if claim("a", 9) || claim("c", 9) {
		t.Error("reuse of a remembered key with another count accepted")
	}
	// "a" moved to the newer generation when checked: it outlives "b".
	claim("d", 0)
	claim("e", 0)
	if claim("a", 9) {
		t.Error("recently checked key forgotten")
	}
	if !claim("b", 9) {
		t.Error("old key still remembered: the memory is not bounded")
	}
	if n := len(m.cur) + len(m.old); n > 4 {
		t.Errorf("%d keys remembered, more than 4", n)
	}
}
