package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/socketio"
)

// wait bounds every wait of the tests; none is expected to come near it.
const wait = 5 * time.Second

// harness is a server under test, with its HTTP server and metrics.
type harness struct {
	t     *testing.T
	srv   *socketio.Server
	http  *httptest.Server
	reg   *prometheus.Registry
	conns chan *socketio.Conn // every OnConnect
	gone  chan disconnect     // every OnDisconnect
}

type disconnect struct {
	c      *socketio.Conn
	reason string
}

// newHarness starts a server with opts, an "echo" event acknowledging its
// arguments, and buffered records of connects and disconnects.
func newHarness(t *testing.T, opts socketio.Options) *harness {
	t.Helper()
	h := &harness{
		t:     t,
		reg:   prometheus.NewRegistry(),
		conns: make(chan *socketio.Conn, 100),
		gone:  make(chan disconnect, 100),
	}
	opts.Registerer = h.reg
	h.srv = socketio.NewServer(opts, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.srv.OnConnect(func(c *socketio.Conn) { h.conns <- c })
	h.srv.OnDisconnect(func(c *socketio.Conn, reason string) { h.gone <- disconnect{c, reason} })
	h.srv.OnEvent("echo", func(_ *socketio.Conn, args []json.RawMessage) []any {
		out := make([]any, len(args))
		for i, a := range args {
			out[i] = a
		}
		return out
	})
	h.http = httptest.NewServer(h.srv)
	t.Cleanup(func() {
		h.srv.Close()
		h.http.Close()
	})
	return h
}

// url returns the Engine.IO URL for transport, with sid when not empty.
func (h *harness) url(transport, sid string) string {
	u := h.http.URL + "/socket.io/?EIO=4&transport=" + transport
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

func (h *harness) nextConn() *socketio.Conn {
	h.t.Helper()
	select {
	case c := <-h.conns:
		return c
	case <-time.After(wait):
		h.t.Fatal("no OnConnect")
		return nil
	}
}

func (h *harness) nextDisconnect() disconnect {
	h.t.Helper()
	select {
	case d := <-h.gone:
		return d
	case <-time.After(wait):
		h.t.Fatal("no OnDisconnect")
		return disconnect{}
	}
}

// dropped returns the counter_socketio_dropped_total of reason.
func (h *harness) dropped(reason string) float64 {
	return h.metric("counter_socketio_dropped_total", reason)
}

// metric returns the value of a metric, of its series with label value
// reason if not empty.
func (h *harness) metric(name, reason string) float64 {
	h.t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if reason != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != reason) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	h.t.Fatalf("no metric %s %s", name, reason)
	return 0
}

// pollClient is a raw long-polling client.
type pollClient struct {
	h   *harness
	sid string
}

// handshake the polling transport and return the open packet's payload.
func (h *harness) openPolling() (*pollClient, map[string]any) {
	h.t.Helper()
	status, body := h.do(http.MethodGet, h.url("polling", ""), "")
	if status != http.StatusOK || !strings.HasPrefix(body, "0") {
		h.t.Fatalf("handshake: %d %q", status, body)
	}
	var open map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		h.t.Fatalf("handshake %q: %v", body, err)
	}
	return &pollClient{h: h, sid: open["sid"].(string)}, open
}

// connectPolling opens a polling session connected to "/".
func (h *harness) connectPolling() (*pollClient, *socketio.Conn) {
	h.t.Helper()
	pc, _ := h.openPolling()
	pc.post("40")
	if got := pc.get(); !strings.HasPrefix(got, `40{"sid":"`) {
		h.t.Fatalf("CONNECT answer %q", got)
	}
	return pc, h.nextConn()
}

func (h *harness) do(method, url, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// post sends a payload and expects "ok".
func (pc *pollClient) post(payload string) {
	pc.h.t.Helper()
	if status, body := pc.postStatus(payload); status != http.StatusOK || body != "ok" {
		pc.h.t.Fatalf("POST %q: %d %q", payload, status, body)
	}
}

func (pc *pollClient) postStatus(payload string) (int, string) {
	pc.h.t.Helper()
	return pc.h.do(http.MethodPost, pc.h.url("polling", pc.sid), payload)
}

// get polls and expects a 200 answer.
func (pc *pollClient) get() string {
	pc.h.t.Helper()
	status, body := pc.getStatus()
	if status != http.StatusOK {
		pc.h.t.Fatalf("GET: %d %q", status, body)
	}
	return body
}

func (pc *pollClient) getStatus() (int, string) {
	pc.h.t.Helper()
	return pc.h.do(http.MethodGet, pc.h.url("polling", pc.sid), "")
}

// wsClient is a raw WebSocket client.
type wsClient struct {
	h  *harness
	ws *websocket.Conn
}

func (h *harness) dialWS(sid string) *wsClient {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.url("websocket", sid), "http"), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	h.t.Cleanup(func() { _ = ws.CloseNow() })
	return &wsClient{h: h, ws: ws}
}

// connectWS opens a WebSocket-only session connected to "/".
func (h *harness) connectWS() (*wsClient, *socketio.Conn) {
	h.t.Helper()
	wc := h.dialWS("")
	if open := wc.recv(); !strings.HasPrefix(open, "0{") {
		h.t.Fatalf("open packet %q", open)
	}
	wc.send("40")
	if got := wc.recv(); !strings.HasPrefix(got, `40{"sid":"`) {
		h.t.Fatalf("CONNECT answer %q", got)
	}
	return wc, h.nextConn()
}

func (wc *wsClient) send(msg string) {
	wc.h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := wc.ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		wc.h.t.Fatalf("send %q: %v", msg, err)
	}
}

// recv returns the next text message, failing the test on error.
func (wc *wsClient) recv() string {
	wc.h.t.Helper()
	msg, err := wc.read()
	if err != nil {
		wc.h.t.Fatalf("recv: %v", err)
	}
	return msg
}

func (wc *wsClient) read() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, b, err := wc.ws.Read(ctx)
	return string(b), err
}

// expectClosed reads until the server closes the connection; it fails the
// test if the read times out instead.
func (wc *wsClient) expectClosed() {
	wc.h.t.Helper()
	for {
		_, err := wc.read()
		if err == nil {
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) {
			wc.h.t.Fatal("connection not closed by the server")
		}
		return
	}
}

// receive returns the next value of ch, failing the test after a while.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
