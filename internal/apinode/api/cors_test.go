package api

import (
	"strings"
	"testing"
)

func TestCheckOrigins(t *testing.T) {
	good := []string{"*", "https://app.example.com", "http://localhost:3001", "https://app.example.com/", "http://[::1]:3000", "HTTPS://App.Example.com"}
	if err := CheckOrigins(good); err != nil {
		t.Errorf("%v", err)
	}
	for _, bad := range []string{"app.example.com", "localhost:3000", "https://*.example.com", "*.example.com", "https://app.example.com/path",
		"https://app.example.com?x=1", "https://user@app.example.com", "https://", "null", "https://app.example.com#f"} {
		if err := CheckOrigins([]string{"https://ok.example", bad}); err == nil || !strings.Contains(err.Error(), "is not an origin") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Origins are compared exactly (but for case and a trailing slash): no
// prefix, suffix or subdomain matches.
func TestCORSAllowListIsExact(t *testing.T) {
	f := newFixture(t, Config{CORSOrigins: []string{"https://UI.example"}})
	for _, o := range []string{"https://ui.example.evil", "https://evil-ui.example", "http://ui.example", "https://sub.ui.example", "https://ui.example:8443", "null"} {
		w := f.do("OPTIONS", likesPath, "", "Origin", o, "Access-Control-Request-Method", "POST")
		if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %v", o, w.Code, w.Header())
		}
		if w := f.do("POST", likesPath, "", "Origin", o); w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("POST from %s allowed: %v", o, w.Header())
		}
	}
	w := f.do("POST", likesPath, "", "Origin", "https://ui.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://ui.example" || !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("allowed origin: %v", w.Header())
	}
}

// With an admin token, a page of an allowed origin may send the
// Authorization header; without one, it is not advertised.
func TestCORSAllowsAuthorizationWithAToken(t *testing.T) {
	for _, token := range []string{"", adminToken} {
		f := newFixture(t, Config{AdminToken: token, CORSOrigins: []string{"https://ui.example"}})
		w := f.do("OPTIONS", "/dev/videos", "", "Origin", "https://ui.example", "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization,content-type")
		allow := w.Header().Get("Access-Control-Allow-Headers")
		if w.Code != 204 || strings.Contains(allow, "Authorization") != (token != "") {
			t.Errorf("token %q: preflight %d, Allow-Headers %q", token, w.Code, allow)
		}
	}
}
