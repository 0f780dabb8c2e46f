package socketio_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/socketio"
)

func TestPollingHandshake(t *testing.T) {
	h := newHarness(t, socketio.Options{PingInterval: 1500 * time.Millisecond, PingTimeout: 700 * time.Millisecond, MaxPayload: 4096})
	resp, err := http.Get(h.url("polling", ""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	_, open := h.openPolling()
	want := map[string]any{"upgrades": []any{"websocket"}, "pingInterval": 1500.0, "pingTimeout": 700.0, "maxPayload": 4096.0}
	for k, v := range want {
		if got := open[k]; !equalJSON(got, v) {
			t.Errorf("open[%q] = %v, want %v", k, got, v)
		}
	}
	if sid, _ := open["sid"].(string); sid == "" {
		t.Errorf("open has no sid: %v", open)
	}
	if len(open) != 5 {
		t.Errorf("open has keys %v, want exactly sid, upgrades, pingInterval, pingTimeout, maxPayload", open)
	}
}

func equalJSON(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	base := h.http.URL + "/socket.io/"
	cases := []struct {
		name, method, url string
		header            http.Header
		status            int
		body              string
	}{
		{"no EIO", "GET", base + "?transport=polling", nil, 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO 3", "GET", base + "?EIO=3&transport=polling", nil, 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"no transport", "GET", base + "?EIO=4", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"bad transport", "GET", base + "?EIO=4&transport=abc", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"POST handshake", "POST", base + "?EIO=4&transport=polling", nil, 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT handshake", "PUT", base + "?EIO=4&transport=polling", nil, 400, `{"code":2,"message":"Bad handshake method"}`},
		{"unknown sid GET", "GET", base + "?EIO=4&transport=polling&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"unknown sid POST", "POST", base + "?EIO=4&transport=polling&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"unknown sid websocket", "GET", base + "?EIO=4&transport=websocket&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"other path", "GET", h.http.URL + "/other/?EIO=4&transport=polling", nil, 404, ""},
		{"foreign origin", "GET", base + "?EIO=4&transport=polling", http.Header{"Origin": {"https://evil.example"}}, 403, `{"code":4,"message":"Forbidden"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, c.url, nil)
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, c.status, body)
			}
			if c.body != "" && string(body) != c.body {
				t.Fatalf("body %q, want %q", body, c.body)
			}
		})
	}
}

func TestAllowedOrigins(t *testing.T) {
	h := newHarness(t, socketio.Options{AllowedOrigins: []string{"*.example.com"}})
	req, _ := http.NewRequest("GET", h.url("polling", ""), nil)
	req.Header.Set("Origin", "https://app.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("status %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestPollingConnectEventAck(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	pc, open := h.openPolling()
	pc.post("40")
	got := pc.get()
	c := h.nextConn()
	if want := `40{"sid":"` + c.ID() + `"}`; got != want {
		t.Fatalf("CONNECT answer %q, want %q", got, want)
	}
	if c.ID() == open["sid"] {
		t.Errorf("Socket.IO id equals the Engine.IO sid %q", c.ID())
	}

	// Two packets in one payload; the second asks for an ack.
	pc.post(`42["echo","no ack"]` + "\x1e" + `4213["echo","x",{"n":1}]`)
	if got, want := pc.get(), `4313["x",{"n":1}]`; got != want {
		t.Fatalf("ack %q, want %q", got, want)
	}

	// Queued packets come back together, separated by \x1e.
	if err := c.Emit("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit("b", "two"); err != nil {
		t.Fatal(err)
	}
	if got, want := pc.get(), `42["a",1]`+"\x1e"+`42["b","two"]`; got != want {
		t.Fatalf("poll %q, want %q", got, want)
	}

	// A poll waits until there is something to send.
	done := make(chan string)
	go func() { done <- pc.get() }()
	if err := c.Emit("later"); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != `42["later"]` {
		t.Fatalf("pending poll %q", got)
	}
}

func TestPollingClientDisconnectAndClose(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	pc, c := h.connectPolling()
	pc.post("41")
	d := h.nextDisconnect()
	if d.c != c || d.reason != socketio.ReasonClientDisconnect {
		t.Fatalf("disconnect %v %q", d.c.ID(), d.reason)
	}
	if n := h.srv.ConnCount(); n != 0 {
		t.Fatalf("ConnCount = %d after disconnect", n)
	}
	// The session outlives the namespace connection; the client can connect
	// again, and then close the session.
	pc.post("40")
	if got := pc.get(); !strings.HasPrefix(got, "40") {
		t.Fatalf("reconnect answer %q", got)
	}
	h.nextConn()
	pc.post("1")
	if d := h.nextDisconnect(); d.reason != socketio.ReasonTransportClose {
		t.Fatalf("reason %q, want %q", d.reason, socketio.ReasonTransportClose)
	}
	if status, _ := pc.getStatus(); status != http.StatusBadRequest {
		t.Fatalf("GET after close: %d, want 400", status)
	}
}

func TestPollingBadPayloadClosesSession(t *testing.T) {
	for _, payload := range []string{"abc", "", "4", "42[]", `42["echo"`, "4\x1e", "bAQID", `451-["a",{"_placeholder":true,"num":0}]`} {
		t.Run(payload, func(t *testing.T) {
			h := newHarness(t, socketio.Options{})
			pc, _ := h.connectPolling()
			if status, _ := pc.postStatus(payload); status != http.StatusBadRequest {
				t.Fatalf("POST %q: status %d, want 400", payload, status)
			}
			if d := h.nextDisconnect(); d.reason != socketio.ReasonProtocolError {
				t.Fatalf("reason %q", d.reason)
			}
			if status, _ := pc.getStatus(); status != http.StatusBadRequest {
				t.Fatalf("GET after bad POST: %d, want 400", status)
			}
			if n := h.dropped(socketio.DropProtocolError); n != 1 {
				t.Fatalf("dropped{protocol_error} = %v", n)
			}
		})
	}
}

func TestPollingOverlappingPolls(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	pc, _ := h.connectPolling()
	// Whichever poll comes second is refused and closes the session, which
	// ends the other with a close packet.
	results := make(chan string, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(h.url("polling", pc.sid))
			if err != nil {
				results <- err.Error()
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			results <- fmt.Sprint(resp.StatusCode, " ", string(body))
		}()
	}
	got := []string{receive(t, results, "a poll"), receive(t, results, "a poll")}
	slices.Sort(got)
	want := []string{"200 1", `400 {"code":3,"message":"Bad request"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("overlapping polls answered %q, want %q", got, want)
	}
	if status, _ := pc.getStatus(); status != http.StatusBadRequest {
		t.Fatalf("poll after close: %d", status)
	}
}

func TestPollingPayloadTooLarge(t *testing.T) {
	h := newHarness(t, socketio.Options{MaxPayload: 100})
	pc, _ := h.connectPolling()
	if status, _ := pc.postStatus(`42["echo","` + strings.Repeat("x", 200) + `"]`); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
	if d := h.nextDisconnect(); d.reason != socketio.ReasonPayloadTooLarge {
		t.Fatalf("reason %q", d.reason)
	}
	if n := h.dropped(socketio.DropPayloadTooLarge); n != 1 {
		t.Fatalf("dropped{payload_too_large} = %v", n)
	}
}

func TestPollingPingTimeout(t *testing.T) {
	h := newHarness(t, socketio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	pc, c := h.connectPolling()
	// Answer three pings: the session stays up.
	for range 3 {
		if got := pc.get(); got != "2" {
			t.Fatalf("poll %q, want ping", got)
		}
		pc.post("3")
	}
	if got := h.srv.ConnCount(); got != 1 {
		t.Fatalf("ConnCount = %d while answering pings", got)
	}
	// Then stop polling.
	d := h.nextDisconnect()
	if d.c != c || d.reason != socketio.ReasonPingTimeout {
		t.Fatalf("disconnect %q", d.reason)
	}
	if status, _ := pc.getStatus(); status != http.StatusBadRequest {
		t.Fatalf("GET after timeout: %d", status)
	}
	if n := h.dropped(socketio.DropPingTimeout); n != 1 {
		t.Fatalf("dropped{ping_timeout} = %v", n)
	}
}
