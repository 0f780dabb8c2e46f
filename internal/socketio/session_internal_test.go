package socketio

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestOutbox(t *testing.T) {
	o := newOutbox(2)
	a, b, c := []byte("a"), []byte("b"), []byte("c")
	if o.push(a) != pushed || o.push(b) != pushed {
		t.Fatal("push below the limit failed")
	}
	if o.push(c) != queueFull {
		t.Fatal("push past the limit succeeded")
	}
	select {
	case <-o.wake:
	default:
		t.Fatal("no wake token after push")
	}
	batch, last := o.take(nil)
	if len(batch) != 2 || string(batch[0]) != "a" || string(batch[1]) != "b" || last {
		t.Fatalf("take = %q, %v", batch, last)
	}
	if o.push(c) != pushed {
		t.Fatal("push after take failed")
	}
	o.seal()
	if o.push(a) != queueSealed {
		t.Fatal("push after seal succeeded")
	}
	batch, last = o.take(batch)
	if len(batch) != 1 || string(batch[0]) != "c" || !last {
		t.Fatalf("take after seal = %q, %v", batch, last)
	}
}

// await spins until cond holds, failing the test after a while. It is for
// conditions of internal state that offer nothing to wait on.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

// openPolledSession opens a polling session on srv, connected to "/", and
// returns it.
func openPolledSession(t *testing.T, srv *Server, ts *httptest.Server) *session {
	t.Helper()
	body := httpDo(t, "GET", ts.URL+"/socket.io/?EIO=4&transport=polling", "")
	sid := strings.Split(strings.TrimPrefix(body, `0{"sid":"`), `"`)[0]
	s := srv.session(sid)
	if s == nil {
		t.Fatalf("no session for %q", body)
	}
	httpDo(t, "POST", ts.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, "40")
	if got := httpDo(t, "GET", ts.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, ""); !strings.HasPrefix(got, "40{") {
		t.Fatalf("CONNECT answer %q", got)
	}
	return s
}

func httpDo(t *testing.T, method, url, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestGracefulCloseGivesUpOnIdlePollingClient(t *testing.T) {
	srv := NewServer(Options{WriteTimeout: 50 * time.Millisecond}, nil)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	s := openPolledSession(t, srv, ts)
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	c.Close() // the client never polls for the DISCONNECT
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("session not closed after WriteTimeout")
	}
	if srv.session(s.id) != nil {
		t.Fatal("closed session still registered")
	}
}

func TestServerCloseEndsPendingPoll(t *testing.T) {
	srv := NewServer(Options{}, nil)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s := openPolledSession(t, srv, ts)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling&sid=" + s.id)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	await(t, "the poll is pending", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.polling
	})
	srv.Close()
	var body string
	select {
	case body = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("pending poll not answered")
	}
	if body != "1" {
		t.Fatalf("pending poll answered %q, want close packet", body)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{Path: "io", PingInterval: -1}.withDefaults()
	if o.Path != "/io/" || o.PingInterval != DefaultPingInterval || o.PingTimeout != DefaultPingTimeout ||
		o.MaxPayload != DefaultMaxPayload || o.MaxRoomsPerConn != DefaultMaxRoomsPerConn ||
		o.SendQueueSize != DefaultSendQueueSize {
		t.Fatalf("withDefaults = %+v", o)
	}
}

func TestOpenPacket(t *testing.T) {
	o := Options{}.withDefaults()
	got := string(openPacket("abc", nil, &o))
	want := `0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
	if got != want {
		t.Fatalf("openPacket = %s, want %s", got, want)
	}
}
