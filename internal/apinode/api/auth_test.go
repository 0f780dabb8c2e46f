package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

const adminToken = "s3cret-Admin-token_0123456789"

const generatorBody = `{"videos":{"` + goodID + `":[1,2,3,4,5,6,7,8,9,10]}}`

// adminFixture is a server with every optional route, an admin token, a
// route mounted with Handle for each of GET and POST, and its logs in log.
func adminFixture(t *testing.T, log *bytes.Buffer) (*fixture, *fakeCatalog, *fakeGenerator) {
	t.Helper()
	v := view.New([]window.Size{window.NewSize(60_000)}, 2)
	cat := &fakeCatalog{videos: catalog.Samples()}
	gen := &fakeGenerator{}
	f := &fixture{sink: &fakeSink{}, reg: prometheus.NewRegistry()}
	f.srv = New(Config{Catalog: cat, Counts: fakeCounts{v, true}, Generator: gen, AdminToken: adminToken},
		f.sink, f.reg, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	f.srv.Handle("GET /{stage}/mounted", ok)
	f.srv.Handle("POST /{stage}/mounted", ok)
	return f, cat, gen
}

// Every admin route: 401 without a bearer token (and WWW-Authenticate),
// 403 with a wrong one, nothing changed by either; 2xx with the right one.
func TestAdminRoutesNeedTheToken(t *testing.T) {
	var log bytes.Buffer
	f, cat, gen := adminFixture(t, &log)
	routes := []struct {
		method, path, body string
		want               int
		changed            func() bool
	}{
		{"POST", "/dev/videos", `{"title":"Admin video"}`, 201, func() bool { return len(cat.List()) > len(catalog.Samples()) }},
		{"POST", "/dev/generator", generatorBody, 201, func() bool { _, ok := gen.Status(); return ok }},
		{"DELETE", "/dev/generator", "", 200, func() bool { st, _ := gen.Status(); return st.State == "canceled" }},
		{"POST", "/dev/mounted", "", 204, func() bool { return false }},
	}
	unauthorized := []struct {
		name, header string
		want         int
	}{
		{"no header", "", 401},
		{"empty bearer", "Bearer ", 401},
		{"another scheme", "Basic " + adminToken, 401},
		{"bare token", adminToken, 401},
		{"wrong token", "Bearer wrong", 403},
		{"wrong token of the same length", "Bearer " + strings.ToUpper(adminToken), 403},
		{"token with a suffix", "Bearer " + adminToken + "x", 403},
	}
	for _, rt := range routes {
		for _, u := range unauthorized {
			var headers []string
			if u.header != "" {
				headers = []string{"Authorization", u.header}
			}
			w := f.do(rt.method, rt.path, rt.body, headers...)
			if w.Code != u.want {
				t.Errorf("%s %s, %s: %d %s, want %d", rt.method, rt.path, u.name, w.Code, w.Body, u.want)
			}
			if u.want == 401 && w.Header().Get("WWW-Authenticate") != `Bearer realm="counter"` {
				t.Errorf("%s %s, %s: WWW-Authenticate %q", rt.method, rt.path, u.name, w.Header().Get("WWW-Authenticate"))
			}
			if decode(t, w)["error"] == "" {
				t.Errorf("%s %s, %s: no error message", rt.method, rt.path, u.name)
			}
			if rt.changed() {
				t.Fatalf("%s %s, %s: the state changed", rt.method, rt.path, u.name)
			}
		}
		w := f.do(rt.method, rt.path, rt.body, "Authorization", "Bearer "+adminToken)
		if w.Code != rt.want {
			t.Fatalf("%s %s with the token: %d %s, want %d", rt.method, rt.path, w.Code, w.Body, rt.want)
		}
		if rt.path != "/dev/mounted" && !rt.changed() {
			t.Errorf("%s %s with the token: the state did not change", rt.method, rt.path)
		}
	}
	// The scheme is case-insensitive (RFC 9110).
	if w := f.do("POST", "/dev/videos", `{"title":"Another"}`, "Authorization", "bearer "+adminToken); w.Code != 201 {
		t.Errorf("scheme in lower case: %d %s", w.Code, w.Body)
	}
	perRoute := float64(len(routes))
	if v := counterValue(t, f.reg, "counter_api_rejected_total", map[string]string{"reason": "unauthorized"}); v != 4*perRoute {
		t.Errorf("rejected{unauthorized} = %v, want %v", v, 4*perRoute)
	}
	if v := counterValue(t, f.reg, "counter_api_rejected_total", map[string]string{"reason": "forbidden"}); v != 3*perRoute {
		t.Errorf("rejected{forbidden} = %v, want %v", v, 3*perRoute)
	}
	metrics := f.do("GET", "/metrics", "").Body.String()
	if strings.Contains(metrics, adminToken) || strings.Contains(log.String(), adminToken) {
		t.Errorf("the admin token is in /metrics or the logs:\n%s", log.String())
	}
}

// Likes and reads need no token.
func TestLikesAndReadsStayOpenWithAToken(t *testing.T) {
	var log bytes.Buffer
	f, _, _ := adminFixture(t, &log)
	for _, r := range []struct{ method, path, body string }{
		{"POST", likesPath, ""},
		{"POST", likesPath, `{"count":3}`},
		{"GET", "/dev/videos/metadata", ""},
		{"GET", "/dev/videos/" + goodID + "/counts", ""},
		{"GET", "/dev/videos/top", ""},
		{"GET", "/dev/generator", ""},
		{"GET", "/dev/mounted", ""},
		{"HEAD", "/dev/mounted", ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/metrics", ""},
	} {
		if w := f.do(r.method, r.path, r.body); w.Code >= 300 {
			t.Errorf("%s %s without a token: %d %s", r.method, r.path, w.Code, w.Body)
		}
	}
	if got := f.sink.got(); got != goodID+"*1,"+goodID+"*3" {
		t.Errorf("sink got %s", got)
	}
}

// Without a token, admin routes are open (a laptop's default).
func TestAdminRoutesOpenWithoutAToken(t *testing.T) {
	f, _, _, _ := liveFixture(t, true)
	if w := f.do("POST", "/dev/videos", `{"title":"Open"}`); w.Code != 201 {
		t.Errorf("POST /dev/videos without a configured token: %d %s", w.Code, w.Body)
	}
}

func TestCheckAdminToken(t *testing.T) {
	for _, tok := range []string{"", "has space", "tab\there", "new\nline", "é", strings.Repeat("a", 4097)} {
		if CheckAdminToken(tok) == nil {
			t.Errorf("%q accepted", tok)
		}
	}
	for _, tok := range []string{"a", adminToken, "abc+/=~-._"} {
		if err := CheckAdminToken(tok); err != nil {
			t.Errorf("%q: %v", tok, err)
		}
	}
}
