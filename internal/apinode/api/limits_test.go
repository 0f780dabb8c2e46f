package api

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/httpserve"
)

// Every route that takes a body answers 413 beyond MaxBodyBytes, before
// doing anything.
func TestEveryBodyRouteRefusesLargeBodies(t *testing.T) {
	f, _, _, _ := liveFixture(t, true)
	big := `{"title":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`
	for _, path := range []string{likesPath, "/dev/videos", "/dev/generator"} {
		if w := f.do("POST", path, big); w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with %d bytes: %d %s", path, len(big), w.Code, w.Body)
		}
	}
	if got := f.sink.got(); got != "" {
		t.Errorf("sink got %s", got)
	}
}

// A like whose body stalls gets 408 at the server's read timeout.
func TestStalledBodyGets408(t *testing.T) {
	f := newFixture(t, Config{})
	l := httpserve.DefaultLimits()
	l.ReadTimeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserve.NewServer("", f.srv.Handler(), l, quiet)
	go srv.Serve(ln)
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"count\":", likesPath)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	got, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(got), "HTTP/1.1 408 ") {
		t.Fatalf("a stalled body got %q, want 408", got)
	}
	if s := f.sink.got(); s != "" {
		t.Errorf("sink got %s", s)
	}
}

// /readyz follows Config.Ready.
func TestReadyz(t *testing.T) {
	ready := false
	f := newFixture(t, Config{Ready: func() bool { return ready }})
	if w := f.do("GET", "/readyz", ""); w.Code != 503 {
		t.Errorf("not ready: %d", w.Code)
	}
	ready = true
	if w := f.do("GET", "/readyz", ""); w.Code != 200 || decode(t, w)["status"] != "ready" {
		t.Errorf("ready: %d %s", w.Code, w.Body)
	}
}
