package httpserve_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/httpserve"
)

// testLimits are short limits, so that the tests take a fraction of a
// second.
func testLimits() httpserve.Limits {
	return httpserve.Limits{
		ReadHeaderTimeout: 200 * time.Millisecond,
		ReadTimeout:       200 * time.Millisecond,
		WriteTimeout:      200 * time.Millisecond,
		IdleTimeout:       time.Second,
		MaxHeaderBytes:    4 << 10,
	}
}

// serve runs a server with l for h and returns its address.
func serve(t *testing.T, l httpserve.Limits, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserve.NewServer("", h, l, nil)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server closes conn within d (it reads
// and discards whatever the server sends).
func closedWithin(conn net.Conn, d time.Duration) bool {
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn)
		close(closed)
	}()
	select {
	case <-closed:
		return true
	case <-time.After(d):
		return false
	}
}

// A slowloris client sends its headers a byte at a time, each byte well
// within the header timeout but the whole beyond it: the server hangs up
// and never calls the handler.
func TestSlowHeadersAreCutOff(t *testing.T) {
	var called atomic.Bool
	addr := serve(t, testLimits(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		req := "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Slow: 1\r\n", 100) + "\r\n"
		for i := 0; i < len(req); i++ {
			if _, err := conn.Write([]byte{req[i]}); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	if !closedWithin(conn, 3*time.Second) {
		t.Fatal("the server kept a connection whose headers dribbled in for 3s (read header timeout 200ms)")
	}
	if called.Load() {
		t.Error("the handler was called for a request whose headers never arrived")
	}
	t.Logf("connection closed after %v", time.Since(start).Round(time.Millisecond))
}

// Headers beyond MaxHeaderBytes (and net/http's 4 KiB of slack) get 431.
func TestOversizedHeadersGet431(t *testing.T) {
	addr := serve(t, testLimits(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KiB of headers with a 4 KiB limit: %d, want 431", resp.StatusCode)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 2<<10))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("2 KiB of headers with a 4 KiB limit: %d, want 200", resp.StatusCode)
	}
}

// A body that stops arriving fails the handler's read at the read timeout.
func TestSlowBodyIsCutOff(t *testing.T) {
	readErr := make(chan error, 1)
	addr := serve(t, testLimits(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		w.WriteHeader(http.StatusRequestTimeout)
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	select {
	case err := <-readErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("reading a stalled body: %v, want a deadline error", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a stalled body was still being read after 3s (read timeout 200ms)")
	}
}

// A handler that takes longer than the read and write timeouts after
// reading its body (a long poll, an audit) is neither canceled nor cut:
// the timeouts bound the transfers, not the work.
func TestLongHandlerIsNotCut(t *testing.T) {
	l := testLimits()
	addr := serve(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable) // not sent: the client is gone
			return
		case <-time.After(3 * (l.ReadTimeout + l.WriteTimeout)): // the work under test: time passing
		}
		fmt.Fprint(w, "done")
	}))
	for _, body := range []string{"", "a body"} {
		resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "done" {
			t.Fatalf("body %q: %d %q, want 200 done", body, resp.StatusCode, got)
		}
	}
}

// A client that does not read a large response is disconnected at the
// write timeout: the handler's write fails instead of blocking.
func TestSlowReaderIsCutOff(t *testing.T) {
	writeErr := make(chan error, 1)
	addr := serve(t, testLimits(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 256 { // far more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	bufio.NewReader(conn).Peek(1) // the response started; then read nothing
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("256 MiB written to a client that reads nothing")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was still writing to a client that reads nothing after 5s (write timeout 200ms)")
	}
}

// A hijacked connection (WebSocket) keeps no write deadline, neither of an
// earlier response on the same keep-alive connection nor of its own.
func TestHijackedConnectionHasNoDeadline(t *testing.T) {
	l := testLimits()
	hijacked := make(chan error, 1)
	addr := serve(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upgrade" {
			fmt.Fprint(w, "ok")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			hijacked <- err
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
		brw.Flush()
		<-time.After(2 * l.WriteTimeout) // past the first response's deadline
		_, err = conn.Write([]byte("still here"))
		hijacked <- err
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	fmt.Fprint(conn, "GET /upgrade HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-hijacked:
		if err != nil {
			t.Fatalf("write on the hijacked connection: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no answer from the hijacking handler")
	}
}
