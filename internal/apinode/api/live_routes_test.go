package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/apinode/generator/plan"
	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// fakeCatalog is an in-memory Catalog.
type fakeCatalog struct {
	mu     sync.Mutex
	videos []catalog.Video
	err    error
}

func (c *fakeCatalog) List() []catalog.Video {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]catalog.Video(nil), c.videos...)
}

func (c *fakeCatalog) Title(id string) (string, bool) {
	for _, v := range c.List() {
		if v.ID == id {
			return v.Title, true
		}
	}
	return "", false
}

func (c *fakeCatalog) Add(_ context.Context, title, key string) (catalog.Video, bool, error) {
	title, err := catalog.NormalizeTitle(title)
	if err != nil {
		return catalog.Video{}, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return catalog.Video{}, false, c.err
	}
	v := catalog.Video{ID: fmt.Sprintf("new-%d-%s", len(c.videos), key), Title: title}
	c.videos = append(c.videos, v)
	return v, true, nil
}

// fakeCounts is a view that can be not ready.
type fakeCounts struct {
	*view.View
	ready bool
}

func (c fakeCounts) Ready() bool { return c.ready }

func liveFixture(t *testing.T, ready bool) (*fixture, *view.View, *fakeCatalog, *fakeGenerator) {
	sizes := []window.Size{window.NewSize(60_000), window.NewSize(600_000)}
	v := view.New(sizes, 2)
	cat := &fakeCatalog{videos: catalog.Samples()}
	gen := &fakeGenerator{}
	f := newFixture(t, Config{Catalog: cat, Counts: fakeCounts{v, ready}, Generator: gen})
	return f, v, cat, gen
}

func apply(t *testing.T, v *view.View, label, id string, size time.Duration, count uint64, final bool, back int) {
	t.Helper()
	now := time.Now()
	start := now.Truncate(size).Add(-time.Duration(back) * size)
	if _, r := v.Apply(record.Aggregation{Type: label, VideoUID: id, Count: count, WindowStart: start, WindowEnd: start.Add(size), Final: final}, now); r != view.Applied {
		t.Fatalf("apply: %v", r)
	}
}

func TestMetadataFromCatalogAndPostVideo(t *testing.T) {
	f, _, cat, _ := liveFixture(t, true)
	w := f.do("POST", "/dev/videos", `{"title":"  Kites at dawn "}`, "Idempotency-Key", "k1")
	if w.Code != 201 || !strings.Contains(w.Body.String(), `"title":"Kites at dawn"`) || !strings.Contains(w.Body.String(), `"unique_identifier":"new-8-k1"`) {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	w = f.do("GET", "/dev/videos/metadata", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `{"unique_identifier":"new-8-k1","title":"Kites at dawn"}]`) ||
		!strings.HasPrefix(w.Body.String(), `[{"unique_identifier":"`+catalog.DemoID1+`"`) {
		t.Fatalf("metadata: %s", w.Body)
	}
	for _, c := range []struct {
		body string
		code int
		msg  string
	}{
		{``, 400, "body must be"},
		{`{}`, 400, "body must be"},
		{`{"title":5}`, 400, "body must be"},
		{`{"title":"x","other":1}`, 400, "body must be"},
		{`{"title":"   "}`, 400, "invalid title"},
		{`{"title":"` + strings.Repeat("x", 201) + `"}`, 400, "invalid title"},
	} {
		w := f.do("POST", "/dev/videos", c.body)
		if msg, _ := decode(t, w)["error"].(string); w.Code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("POST %s: %d %s", c.body, w.Code, w.Body)
		}
	}
	if w := f.do("POST", "/dev/videos", `{"title":"x"}`, "Idempotency-Key", "bad key"); w.Code != 400 {
		t.Errorf("bad key: %d", w.Code)
	}
	cat.err = fmt.Errorf("%w: full", catalog.ErrConflict)
	if w := f.do("POST", "/dev/videos", `{"title":"x"}`); w.Code != 409 {
		t.Errorf("conflict: %d %s", w.Code, w.Body)
	}
	cat.err = errors.New("broker down")
	if w := f.do("POST", "/dev/videos", `{"title":"x"}`); w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("unavailable: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", "/prod/videos", `{"title":"x"}`); w.Code != 404 {
		t.Errorf("wrong stage: %d", w.Code)
	}
}

func TestCounts(t *testing.T) {
	f, v, _, _ := liveFixture(t, true)
	apply(t, v, "1min", catalog.DemoID1, time.Minute, 4, false, 0)
	apply(t, v, "1min", catalog.DemoID1, time.Minute, 9, true, 1)
	w := f.do("GET", "/dev/videos/"+catalog.DemoID1+"/counts", "")
	m := decode(t, w)
	if w.Code != 200 || m["video_id"] != catalog.DemoID1 || m["title"] != "Sunrise over the harbour" {
		t.Fatalf("counts: %d %s", w.Code, w.Body)
	}
	wins := m["windows"].([]any)
	one := wins[0].(map[string]any)
	cur := one["current"].(map[string]any)
	last := one["last_closed"].(map[string]any)
	if one["window"] != "1min" || one["size_ms"] != 60000.0 || cur["count"] != 4.0 || cur["final"] != false || last["count"] != 9.0 || last["final"] != true {
		t.Fatalf("1min: %v", one)
	}
	start, _ := time.Parse(time.RFC3339, cur["window_start"].(string))
	end, _ := time.Parse(time.RFC3339, cur["window_end"].(string))
	if end.Sub(start) != time.Minute || time.Now().Before(start) || !time.Now().Before(end.Add(time.Second)) {
		t.Fatalf("current window bounds %v %v", start, end)
	}
	ten := wins[1].(map[string]any)
	if ten["window"] != "10min" || ten["last_closed"] != nil || ten["current"].(map[string]any)["count"] != 0.0 {
		t.Fatalf("10min: %v", ten)
	}
	// Not in the catalog: no title, still counted.
	if w := f.do("GET", "/dev/videos/other/counts", ""); w.Code != 200 || strings.Contains(w.Body.String(), "title") {
		t.Fatalf("other: %s", w.Body)
	}
	if w := f.do("GET", "/dev/videos/bad%20id/counts", ""); w.Code != 400 || decode(t, w)["reason"] != "bad_chars" {
		t.Fatalf("bad id: %d %s", w.Code, w.Body)
	}
	nf, _, _, _ := liveFixture(t, false)
	if w := nf.do("GET", "/dev/videos/a/counts", ""); w.Code != 503 {
		t.Fatalf("not ready: %d", w.Code)
	}
}

func TestTop(t *testing.T) {
	f, v, _, _ := liveFixture(t, true)
	for i := range 15 {
		apply(t, v, "1min", fmt.Sprint("v", i), time.Minute, uint64(i), false, 0)
	}
	apply(t, v, "1min", catalog.DemoID2, time.Minute, 100, false, 0)
	apply(t, v, "1min", "old", time.Minute, 1000, true, 1)
	apply(t, v, "10min", "ten", 10*time.Minute, 5, false, 0)
	w := f.do("GET", "/dev/videos/top?window=1m&limit=3", "")
	want := `"videos":[{"video_id":"` + catalog.DemoID2 + `","title":"Ten-minute pasta, no shortcuts","count":100},{"video_id":"v14","count":14},{"video_id":"v13","count":13}]}`
	if w.Code != 200 || !strings.HasSuffix(strings.TrimSpace(w.Body.String()), want) || !strings.HasPrefix(w.Body.String(), `{"window":"1min","window_start":"`) {
		t.Fatalf("top: %d %s", w.Code, w.Body)
	}
	// Defaults: the smallest window, 10 videos.
	if m := decode(t, f.do("GET", "/dev/videos/top", "")); m["window"] != "1min" || len(m["videos"].([]any)) != 10 {
		t.Fatalf("defaults: %v", m)
	}
	if m := decode(t, f.do("GET", "/dev/videos/top?window=10min", "")); len(m["videos"].([]any)) != 1 {
		t.Fatalf("10min: %v", m)
	}
	if m := decode(t, f.do("GET", "/dev/videos/top?window=600s&limit=100", "")); m["window"] != "10min" {
		t.Fatalf("600s: %v", m)
	}
	for _, q := range []string{"window=2m", "window=abc", "window=1m&limit=0", "limit=101", "limit=x", "limit=", "limit=1.5"} {
		w := f.do("GET", "/dev/videos/top?"+q, "")
		if w.Code != 400 || decode(t, w)["error"] == "" {
			t.Errorf("%s: %d %s", q, w.Code, w.Body)
		}
	}
}

// fakeGenerator answers like package generator, in memory.
type fakeGenerator struct {
	mu  sync.Mutex
	cur *plan.Status
	err error
}

func (g *fakeGenerator) Start(_ context.Context, req plan.Request) (plan.Status, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return plan.Status{}, g.err
	}
	if g.cur != nil && g.cur.State == plan.StateRunning {
		return *g.cur, plan.ErrRunActive
	}
	st := plan.Status{ID: "r1", State: plan.StateRunning, Videos: map[string][]int{}}
	for _, v := range req.Videos {
		st.Videos[v.ID] = v.Likes
	}
	g.cur = &st
	return st, nil
}

func (g *fakeGenerator) Status() (plan.Status, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur == nil {
		return plan.Status{}, false
	}
	return *g.cur, true
}

func (g *fakeGenerator) Cancel(context.Context) (plan.Status, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur == nil || g.cur.State != plan.StateRunning {
		return plan.Status{}, plan.ErrNoActiveRun
	}
	g.cur.State = plan.StateCanceled
	return *g.cur, nil
}

func TestGeneratorRoutes(t *testing.T) {
	f, _, _, gen := liveFixture(t, true)
	if w := f.do("GET", "/dev/generator", ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"run":null}` {
		t.Fatalf("GET with no run: %d %s", w.Code, w.Body)
	}
	if w := f.do("DELETE", "/dev/generator", ""); w.Code != 404 {
		t.Fatalf("DELETE with no run: %d %s", w.Code, w.Body)
	}
	body := `{"videos":{"a":[1,2,3,4,5,6,7,8,9,10]}}`
	w := f.do("POST", "/dev/generator", body)
	if w.Code != 201 || !strings.Contains(w.Body.String(), `"state":"running"`) || !strings.Contains(w.Body.String(), `"a":[1,2,3,4,5,6,7,8,9,10]`) {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", "/dev/generator", body); w.Code != 409 || !strings.Contains(w.Body.String(), `"run":{"id":"r1"`) {
		t.Fatalf("second POST: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/dev/generator", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"id":"r1"`) {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	if w := f.do("DELETE", "/dev/generator", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"state":"canceled"`) {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	for _, bad := range []string{``, `{}`, `{"videos":{"a":[1]}}`, `{"videos":{"a b":[1,2,3,4,5,6,7,8,9,10]}}`} {
		if w := f.do("POST", "/dev/generator", bad); w.Code != 400 {
			t.Errorf("POST %s: %d %s", bad, w.Code, w.Body)
		}
	}
	gen.err = errors.New("broker down")
	if w := f.do("POST", "/dev/generator", body); w.Code != 503 {
		t.Fatalf("unavailable: %d", w.Code)
	}
	if w := f.do("PUT", "/dev/generator", ""); w.Code != 405 || !strings.Contains(w.Header().Get("Allow"), "DELETE") {
		t.Fatalf("PUT: %d %v", w.Code, w.Header())
	}
	if w := f.do("OPTIONS", "/dev/generator", "", "Origin", "http://x", "Access-Control-Request-Method", "DELETE"); !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Fatalf("preflight: %v", w.Header())
	}
}

func TestHandlePrefix(t *testing.T) {
	f, _, _, _ := liveFixture(t, true)
	f.srv.HandlePrefix("/socket.io/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Method + " " + r.URL.RequestURI()))
	}))
	w := f.do("POST", "/socket.io/?EIO=4&transport=polling", "x", "Origin", "http://elsewhere")
	if w.Code != 200 || w.Body.String() != "POST /socket.io/?EIO=4&transport=polling" || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("prefix route: %d %q %v", w.Code, w.Body, w.Header())
	}
	// The other routes are unaffected.
	if w := f.do("GET", "/dev/videos/metadata", ""); w.Code != 200 {
		t.Fatalf("metadata: %d", w.Code)
	}
	if v := counterValue(t, f.reg, "counter_api_requests_total", map[string]string{"route": "/socket.io/", "code": "200"}); v != 1 {
		t.Fatalf("requests of the prefix route: %v", v)
	}
}
