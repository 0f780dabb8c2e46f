package live

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/httpserve"
)

// shortLimits are HTTP limits far shorter than the sessions of the test.
var shortLimits = httpserve.Limits{
	ReadHeaderTimeout: 100 * time.Millisecond,
	ReadTimeout:       100 * time.Millisecond,
	WriteTimeout:      100 * time.Millisecond,
	IdleTimeout:       time.Second,
	MaxHeaderBytes:    8 << 10,
}

// serveLimited serves h with shortLimits.
func serveLimited(t *testing.T) func(http.Handler) (string, func()) {
	return func(h http.Handler) (string, func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := httpserve.NewServer("", h, shortLimits, nil)
		go srv.Serve(ln)
		return "http://" + ln.Addr().String(), func() { srv.Close() }
	}
}

// The server's read and write timeouts do not cut a WebSocket session: it
// still gets pushes long after them.
func TestWebSocketOutlivesServerTimeouts(t *testing.T) {
	f := newFixtureOn(t, Config{FlushInterval: 10 * time.Millisecond}, serveLimited(t))
	c := f.dial()
	c.call(EventRegister, map[string]any{"rooms": []string{"a"}})
	c.call("consume_1_min_aggregations")
	<-time.After(5 * shortLimits.WriteTimeout) // the timeouts pass
	f.set(0, "a", 7, false)
	waitFor(t, "a=7 after the timeouts", func() bool {
		got := c.counts("live_aggregations_1")
		return len(got) > 0 && got[len(got)-1] == "a=7"
	})
}

// A long poll lasts longer than the server's read and write timeouts: it
// is answered at the ping interval, not cut or canceled.
func TestLongPollOutlivesServerTimeouts(t *testing.T) {
	const ping = 600 * time.Millisecond // well past the timeouts
	f := newFixtureOn(t, Config{PingInterval: ping, PingTimeout: 5 * time.Second}, serveLimited(t))
	get := func(query string) (int, string) {
		resp, err := http.Get(f.url + "/socket.io/?EIO=4&transport=polling" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, open := get("")
	i, j := strings.Index(open, `"sid":"`), -1
	if i >= 0 {
		j = strings.IndexByte(open[i+7:], '"')
	}
	if code != 200 || j < 0 {
		t.Fatalf("open: %d %q", code, open)
	}
	sid := open[i+7 : i+7+j]
	start := time.Now()
	code, body := get("&sid=" + sid)
	if took := time.Since(start); code != 200 || body != "2" || took < ping/2 {
		t.Fatalf("poll: %d %q after %v, want the ping (2) after about %v", code, body, took, ping)
	}
}
