package socketio_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/counter-dev/counter/internal/socketio"
)

func TestWebSocketOnly(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	wc := h.dialWS("")
	var open map[string]any
	if msg := wc.recv(); !strings.HasPrefix(msg, "0") || json.Unmarshal([]byte(msg[1:]), &open) != nil {
		t.Fatalf("open packet %q", msg)
	}
	if ups, ok := open["upgrades"].([]any); !ok || len(ups) != 0 {
		t.Fatalf("upgrades %v, want []", open["upgrades"])
	}
	wc.send("40")
	c := h.nextConn()
	if got, want := wc.recv(), `40{"sid":"`+c.ID()+`"}`; got != want {
		t.Fatalf("CONNECT answer %q, want %q", got, want)
	}
	wc.send(`427["echo",[1,2],"x"]`)
	if got, want := wc.recv(), `437[[1,2],"x"]`; got != want {
		t.Fatalf("ack %q, want %q", got, want)
	}
	if err := c.Emit("count", map[string]int{"likes": 5}); err != nil {
		t.Fatal(err)
	}
	if got, want := wc.recv(), `42["count",{"likes":5}]`; got != want {
		t.Fatalf("event %q, want %q", got, want)
	}
	wc.send("41")
	if d := h.nextDisconnect(); d.c != c || d.reason != socketio.ReasonClientDisconnect {
		t.Fatalf("disconnect reason %q", d.reason)
	}
	if err := c.Emit("late"); err != socketio.ErrClosed {
		t.Fatalf("Emit after disconnect: %v, want ErrClosed", err)
	}
	if err := c.Join("r"); err != socketio.ErrClosed {
		t.Fatalf("Join after disconnect: %v, want ErrClosed", err)
	}
}

func TestUpgrade(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	pc, c := h.connectPolling()
	if err := c.Join("room"); err != nil {
		t.Fatal(err)
	}

	pending := make(chan string, 1)
	go func() {
		resp, err := http.Get(h.url("polling", pc.sid))
		if err != nil {
			pending <- err.Error()
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		pending <- b.String()
	}()

	wc := h.dialWS(pc.sid)
	wc.send("2probe")
	if got := wc.recv(); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	// The probe ends the pending poll (or the next one) with a noop.
	if got := receive(t, pending, "the pending poll"); got != "6" {
		t.Fatalf("pending poll answered %q, want noop", got)
	}
	// Until the upgrade completes, what is sent still goes by polling.
	wc.send("5")

	if err := h.srv.BroadcastTo("room", "count", 1); err != nil {
		t.Fatal(err)
	}
	if got := wc.recv(); got != `42["count",1]` {
		t.Fatalf("broadcast after upgrade %q", got)
	}
	wc.send(`421["echo","via ws"]`)
	if got := wc.recv(); got != `431["via ws"]` {
		t.Fatalf("ack over ws %q", got)
	}
	// Polling is over for this session, but the session is not closed.
	if status, _ := pc.getStatus(); status != http.StatusBadRequest {
		t.Fatalf("GET after upgrade: %d, want 400", status)
	}
	if status, _ := pc.postStatus(`42["echo"]`); status != http.StatusBadRequest {
		t.Fatalf("POST after upgrade: %d, want 400", status)
	}
	// A second WebSocket for the session is refused.
	second := h.dialWS(pc.sid)
	second.expectClosed()

	if h.srv.ConnCount() != 1 || h.srv.RoomSize("room") != 1 {
		t.Fatalf("ConnCount %d RoomSize %d after upgrade", h.srv.ConnCount(), h.srv.RoomSize("room"))
	}
	if err := c.Emit("still", "here"); err != nil {
		t.Fatal(err)
	}
	if got := wc.recv(); got != `42["still","here"]` {
		t.Fatalf("emit after upgrade %q", got)
	}
}

func TestUpgradeQueuedPacketsFollowToWebSocket(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	pc, c := h.connectPolling()
	wc := h.dialWS(pc.sid)
	wc.send("2probe")
	if got := wc.recv(); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	// Emitted during the upgrade, with no poll pending: sent once upgraded.
	if err := c.Emit("queued"); err != nil {
		t.Fatal(err)
	}
	wc.send("5")
	if got := wc.recv(); got != `42["queued"]` {
		t.Fatalf("first WebSocket message %q", got)
	}
}

func TestFailedUpgradeKeepsPolling(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	pc, c := h.connectPolling()
	wc := h.dialWS(pc.sid)
	wc.send("4hello") // not a probe
	wc.expectClosed()
	if err := c.Emit("still polling"); err != nil {
		t.Fatal(err)
	}
	if got := pc.get(); got != `42["still polling"]` {
		t.Fatalf("poll after failed upgrade %q", got)
	}
}

func TestWebSocketPingPong(t *testing.T) {
	h := newHarness(t, socketio.Options{PingInterval: 30 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	wc, c := h.connectWS()
	for range 5 {
		if got := wc.recv(); got != "2" {
			t.Fatalf("got %q, want ping", got)
		}
		wc.send("3")
	}
	// Stop answering.
	d := h.nextDisconnect()
	if d.c != c || d.reason != socketio.ReasonPingTimeout {
		t.Fatalf("disconnect reason %q, want ping timeout", d.reason)
	}
	wc.expectClosed()
	if n := h.dropped(socketio.DropPingTimeout); n != 1 {
		t.Fatalf("dropped{ping_timeout} = %v", n)
	}
}

func TestWebSocketBadPackets(t *testing.T) {
	cases := []struct {
		name      string
		msg       string
		binary    bool
		connected bool // send CONNECT first
	}{
		{name: "not Engine.IO", msg: "abc", connected: true},
		{name: "empty", msg: "", connected: true},
		{name: "open from client", msg: "0", connected: true},
		{name: "not Socket.IO", msg: "4x", connected: true},
		{name: "event not an array", msg: `42{}`, connected: true},
		{name: "empty event", msg: `42[]`, connected: true},
		{name: "event name not a string", msg: `42[1]`, connected: true},
		{name: "truncated JSON", msg: `42["echo"`, connected: true},
		{name: "event before CONNECT", msg: `42["echo"]`},
		{name: "event to unconnected namespace", msg: `42/admin,["echo"]`, connected: true},
		{name: "binary event", msg: `451-["echo",{"_placeholder":true,"num":0}]`, connected: true},
		{name: "binary frame", msg: "\x01\x02", binary: true, connected: true},
		{name: "base64 binary", msg: "bAQID", connected: true},
		{name: "huge ack id", msg: `4299999999999999999999["echo"]`, connected: true},
		{name: "invalid ack id", msg: `42abc["echo",1]`, connected: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, socketio.Options{})
			wc := h.dialWS("")
			wc.recv() // open
			if tc.connected {
				wc.send("40")
				wc.recv()
				h.nextConn()
			}
			typ := websocket.MessageText
			if tc.binary {
				typ = websocket.MessageBinary
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := wc.ws.Write(ctx, typ, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			wc.expectClosed()
			if tc.connected {
				if d := h.nextDisconnect(); d.reason != socketio.ReasonProtocolError {
					t.Fatalf("reason %q", d.reason)
				}
			}
			if n := h.dropped(socketio.DropProtocolError); n != 1 {
				t.Fatalf("dropped{protocol_error} = %v", n)
			}
			// The server is still up for others.
			other, _ := h.connectWS()
			other.send(`421["echo","ok"]`)
			if got := other.recv(); got != `431["ok"]` {
				t.Fatalf("other client got %q", got)
			}
		})
	}
}

func TestUnknownNamespaceAndEvent(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	wc := h.dialWS("")
	wc.recv()
	wc.send("40/admin,")
	if got, want := wc.recv(), `44/admin,{"message":"Invalid namespace"}`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The session is still usable.
	wc.send("40")
	wc.recv()
	h.nextConn()
	wc.send(`42["no such event",1]`)
	wc.send(`425["no such event either"]`)
	wc.send(`426["echo","alive"]`)
	if got := wc.recv(); got != `436["alive"]` {
		t.Fatalf("got %q after unknown events", got)
	}
	if n := h.dropped(socketio.DropUnknownEvent); n != 2 {
		t.Fatalf("dropped{unknown_event} = %v, want 2", n)
	}
}

func TestWebSocketPayloadTooLarge(t *testing.T) {
	h := newHarness(t, socketio.Options{MaxPayload: 100})
	wc, _ := h.connectWS()
	wc.send(`42["echo","` + strings.Repeat("x", 100) + `"]`)
	wc.expectClosed()
	if d := h.nextDisconnect(); d.reason != socketio.ReasonPayloadTooLarge {
		t.Fatalf("reason %q", d.reason)
	}
	if n := h.dropped(socketio.DropPayloadTooLarge); n != 1 {
		t.Fatalf("dropped{payload_too_large} = %v", n)
	}
}

func TestWebSocketClientCloses(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	wc, c := h.connectWS()
	_ = wc.ws.Close(websocket.StatusNormalClosure, "")
	if d := h.nextDisconnect(); d.c != c || d.reason != socketio.ReasonTransportClose {
		t.Fatalf("reason %q", d.reason)
	}
	if n := h.srv.ConnCount(); n != 0 {
		t.Fatalf("ConnCount = %d", n)
	}
}
