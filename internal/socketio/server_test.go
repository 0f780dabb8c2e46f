package socketio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/socketio"
)

func TestRooms(t *testing.T) {
	h := newHarness(t, socketio.Options{MaxRoomsPerConn: 2})
	_, c := h.connectWS()
	for _, room := range []string{"a", "b", "a"} {
		if err := c.Join(room); err != nil {
			t.Fatalf("Join(%q): %v", room, err)
		}
	}
	if err := c.Join("c"); !errors.Is(err, socketio.ErrTooManyRooms) {
		t.Fatalf("Join past the limit: %v, want ErrTooManyRooms", err)
	}
	if got := c.Rooms(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Rooms() = %v", got)
	}
	c.Leave("a")
	c.Leave("never joined")
	if err := c.Join("c"); err != nil {
		t.Fatalf("Join after Leave: %v", err)
	}
	if got := c.Rooms(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("Rooms() = %v", got)
	}
	if h.srv.RoomSize("a") != 0 || h.srv.RoomSize("b") != 1 || h.srv.RoomSize("c") != 1 {
		t.Fatalf("RoomSize a=%d b=%d c=%d", h.srv.RoomSize("a"), h.srv.RoomSize("b"), h.srv.RoomSize("c"))
	}
}

func TestBroadcastReachesRoomMembersOnly(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	type client struct {
		recv  func() string
		rooms []string
	}
	ws1, c1 := h.connectWS()
	ws2, c2 := h.connectWS()
	pc3, c3 := h.connectPolling()
	clients := []client{
		{ws1.recv, []string{"v1", "v2"}},
		{ws2.recv, []string{"v2"}},
		{pc3.get, []string{"v1", "v3"}},
	}
	for i, c := range []*socketio.Conn{c1, c2, c3} {
		for _, r := range clients[i].rooms {
			if err := c.Join(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, room := range []string{"v1", "v2", "v3", "nobody"} {
		if err := h.srv.BroadcastTo(room, "count", room); err != nil {
			t.Fatal(err)
		}
	}
	// A final event to each client proves nothing else was queued before it.
	for _, c := range []*socketio.Conn{c1, c2, c3} {
		if err := c.Emit("end"); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients {
		var got []string
		for len(got) == 0 || got[len(got)-1] != `42["end"]` {
			got = append(got, strings.Split(c.recv(), "\x1e")...)
		}
		var want []string
		for _, r := range c.rooms {
			want = append(want, `42["count","`+r+`"]`)
		}
		want = append(want, `42["end"]`)
		if !slices.Equal(got, want) {
			t.Errorf("client %d got %q, want %q", i, got, want)
		}
	}
	if n := h.metric("counter_socketio_messages_sent_total", ""); n < 8 {
		t.Errorf("messages_sent_total = %v, want at least 8", n)
	}
}

func TestBroadcastEncodingError(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	if err := h.srv.BroadcastTo("r", "bad", func() {}); err == nil {
		t.Fatal("BroadcastTo of a func succeeded")
	}
}

func TestSlowPollingClientIsDropped(t *testing.T) {
	h := newHarness(t, socketio.Options{SendQueueSize: 4})
	_, slow := h.connectPolling() // never polls again
	fast, fastConn := h.connectWS()
	for _, c := range []*socketio.Conn{slow, fastConn} {
		if err := c.Join("room"); err != nil {
			t.Fatal(err)
		}
	}
	const n = 10
	for i := range n {
		if err := h.srv.BroadcastTo("room", "count", i); err != nil {
			t.Fatal(err)
		}
		if got, want := fast.recv(), fmt.Sprintf(`42["count",%d]`, i); got != want {
			t.Fatalf("fast client got %q, want %q", got, want)
		}
	}
	d := h.nextDisconnect()
	if d.c != slow || d.reason != socketio.ReasonSlowClient {
		t.Fatalf("disconnected %s for %q, want the slow client", d.c.ID(), d.reason)
	}
	if got := h.dropped(socketio.DropSlowClient); got != 1 {
		t.Fatalf("dropped{slow_client} = %v", got)
	}
	if h.srv.RoomSize("room") != 1 || h.srv.ConnCount() != 1 {
		t.Fatalf("RoomSize %d ConnCount %d", h.srv.RoomSize("room"), h.srv.ConnCount())
	}
}

func TestSlowWebSocketClientIsDropped(t *testing.T) {
	h := newHarness(t, socketio.Options{SendQueueSize: 8, WriteTimeout: 200 * time.Millisecond})
	_, slow := h.connectWS() // never reads
	if err := slow.Join("room"); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	deadline := time.Now().Add(wait)
	for h.srv.RoomSize("room") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("client that never reads was not dropped")
		}
		start := time.Now()
		if err := h.srv.BroadcastTo("room", "big", big); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("BroadcastTo blocked for %v", d)
		}
	}
	if d := h.nextDisconnect(); d.reason != socketio.ReasonSlowClient {
		t.Fatalf("reason %q", d.reason)
	}
	if got := h.dropped(socketio.DropSlowClient); got != 1 {
		t.Fatalf("dropped{slow_client} = %v", got)
	}
}

func TestConnCloseWebSocket(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	wc, c := h.connectWS()
	if err := c.Emit("bye"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if d := h.nextDisconnect(); d.c != c || d.reason != socketio.ReasonServerDisconnect {
		t.Fatalf("reason %q", d.reason)
	}
	if got := wc.recv(); got != `42["bye"]` {
		t.Fatalf("got %q, want the event queued before Close", got)
	}
	if got := wc.recv(); got != "41" {
		t.Fatalf("got %q, want DISCONNECT", got)
	}
	wc.expectClosed()
	if err := c.Emit("after"); !errors.Is(err, socketio.ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
}

func TestConnClosePolling(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	pc, c := h.connectPolling()
	c.Close()
	if got := pc.get(); got != "41" {
		t.Fatalf("got %q, want DISCONNECT", got)
	}
	// The close packet comes alone, in the next poll.
	if got := pc.get(); got != "1" {
		t.Fatalf("got %q, want close", got)
	}
	if d := h.nextDisconnect(); d.reason != socketio.ReasonServerDisconnect {
		t.Fatalf("reason %q", d.reason)
	}
	if status, _ := pc.getStatus(); status != http.StatusBadRequest {
		t.Fatalf("GET after close: %d", status)
	}
}

func TestServerClose(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	wc, _ := h.connectWS()
	pc, _ := h.connectPolling()
	h.srv.Close()
	// Close waited for both OnDisconnect calls.
	for range 2 {
		select {
		case d := <-h.gone:
			if d.reason != socketio.ReasonServerShutdown {
				t.Fatalf("reason %q", d.reason)
			}
		default:
			t.Fatal("Close returned before OnDisconnect")
		}
	}
	wc.expectClosed()
	if status, _ := pc.getStatus(); status != http.StatusBadRequest {
		t.Fatalf("poll after Close: %d", status)
	}
	if n := h.srv.ConnCount(); n != 0 {
		t.Fatalf("ConnCount %d", n)
	}
	if status, _ := h.do(http.MethodGet, h.url("polling", ""), ""); status != http.StatusServiceUnavailable {
		t.Fatalf("handshake after Close: %d", status)
	}
	h.srv.Close() // twice is fine
}

func TestHandlerPanicDoesNotKillTheServer(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	h.srv.OnEvent("boom", func(*socketio.Conn, []json.RawMessage) []any { panic("boom") })
	wc, _ := h.connectWS()
	wc.send(`421["boom"]`)
	if got := wc.recv(); got != "431[]" {
		t.Fatalf("ack of a panicking handler %q, want empty ack", got)
	}
	wc.send(`422["echo","alive"]`)
	if got := wc.recv(); got != `432["alive"]` {
		t.Fatalf("got %q", got)
	}
}

func TestCallbacksOrder(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	var mu sync.Mutex
	var events []string
	record := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	release := make(chan struct{})
	h.srv.OnEvent("slow", func(c *socketio.Conn, _ []json.RawMessage) []any {
		record("slow start")
		c.Close() // OnDisconnect must wait for this handler
		<-release
		record("slow end")
		return nil
	})
	h.srv.OnDisconnect(func(c *socketio.Conn, reason string) {
		record("disconnect")
		h.gone <- disconnect{c, reason}
	})
	wc, _ := h.connectWS()
	wc.send(`42["slow"]`)
	if got := wc.recv(); got != "41" {
		t.Fatalf("got %q", got)
	}
	close(release)
	h.nextDisconnect()
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"slow start", "slow end", "disconnect"}; !slices.Equal(events, want) {
		t.Fatalf("callbacks ran in order %q, want %q", events, want)
	}
}

func TestMetricsGauge(t *testing.T) {
	h := newHarness(t, socketio.Options{})
	wc, _ := h.connectWS()
	h.connectPolling()
	if got := h.metric("counter_socketio_connections", ""); got != 2 {
		t.Fatalf("connections = %v", got)
	}
	wc.send("41")
	h.nextDisconnect()
	if got := h.metric("counter_socketio_connections", ""); got != 1 {
		t.Fatalf("connections = %v after a disconnect", got)
	}
}

// TestConcurrentUse hammers the API from many goroutines, for the race
// detector: clients come and go while others join, leave and broadcast.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, socketio.Options{SendQueueSize: 64})
	h.srv.OnEvent("join", func(c *socketio.Conn, args []json.RawMessage) []any {
		var room string
		_ = json.Unmarshal(args[0], &room)
		return []any{c.Join(room) == nil}
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = h.srv.BroadcastTo(fmt.Sprint("room", j%8), "count", i, j)
				_ = h.srv.RoomSize("room1") + h.srv.ConnCount()
			}
		})
	}
	for i := range 20 {
		wc, c := h.connectWS()
		wc.send(fmt.Sprintf(`421["join","room%d"]`, i%8))
		_ = c.Join(fmt.Sprint("room", (i+1)%8))
		_ = c.Rooms()
		c.Leave(fmt.Sprint("room", (i+1)%8))
		if i%2 == 0 {
			c.Close()
		} else {
			wc.send("41")
		}
		h.nextDisconnect()
	}
	close(stop)
	wg.Wait()
	if n := h.srv.ConnCount(); n != 0 {
		t.Fatalf("ConnCount %d", n)
	}
	for i := range 8 {
		if n := h.srv.RoomSize(fmt.Sprint("room", i)); n != 0 {
			t.Fatalf("room%d has %d members", i, n)
		}
	}
}
