package httpserve

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

// Deadlines applies per-request timeouts to h: reading a request's body
// must end within read of the handler's start, and writing a response
// within write of its first byte. A handler's own work between the two is
// not bounded, so a long poll or a slow computation is not cut; a handler
// that sets its own deadlines (http.ResponseController) or takes over the
// connection (WebSocket) keeps them.
func Deadlines(h http.Handler, read, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody && rc.SetReadDeadline(time.Now().Add(read)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, write: write}, r)
	})
}

// deadlineBody lifts the read deadline once the body is read whole: the
// connection is then only watched for the client going away.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// deadlineWriter sets the write deadline when the response starts.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	write   time.Duration
	started bool
}

func (d *deadlineWriter) start() {
	if !d.started {
		d.started = true
		_ = d.rc.SetWriteDeadline(time.Now().Add(d.write))
	}
}

// WriteHeader starts the response (informational 1xx answers do not).
func (d *deadlineWriter) WriteHeader(code int) {
	if code >= 200 {
		d.start()
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	d.start()
	return d.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (d *deadlineWriter) Flush() {
	d.start()
	_ = d.rc.Flush()
}

// Hijack hands the connection over, without deadlines of this package.
func (d *deadlineWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return d.rc.Hijack()
}

// Unwrap returns the original ResponseWriter, for http.ResponseController.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
