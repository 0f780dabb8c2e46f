package api

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
)

// errorBody is the body of every error response.
type errorBody struct {
	Error string `json:"error"`
	// Reason is set for a refused video id: a videoid.Reason value.
	Reason string `json:"reason,omitempty"`
}

// jsonContentType is the Content-Type header value of every JSON answer,
// shared by all of them: nothing modifies a header value in place (Set
// replaces the slice, Add appends to a full one), so it is never changed.
var jsonContentType = []string{"application/json"}

// writeJSON sends body, a JSON document, with status code.
func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header()["Content-Type"] = jsonContentType // canonical key; saves Set's allocation
	w.WriteHeader(code)
	w.Write(body) //nolint:errcheck // the client is gone; nothing to do
}

// writeValue sends v encoded as JSON with status code.
func writeValue(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error: "+err.Error(), "")
		return
	}
	writeJSON(w, code, append(body, '\n'))
}

// writeError sends {"error": msg} (and reason, if any) with status code.
func writeError(w http.ResponseWriter, code int, msg, reason string) {
	body, _ := json.Marshal(errorBody{Error: msg, Reason: reason}) // cannot fail
	writeJSON(w, code, append(body, '\n'))
}

// recorder passes a response through, noting its status code for metrics.
// Requests that matched no route get JSON 404 and 405 answers instead of
// the ServeMux's plain text ones. It lets handlers flush and hijack the
// connection (WebSocket) as with the original ResponseWriter.
type recorder struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	discard bool // swallow the body the ServeMux writes after our JSON one
}

// WriteHeader notes code, and replaces the ServeMux's own 404 and 405.
func (rec *recorder) WriteHeader(code int) {
	if rec.status != 0 || code < 200 {
		rec.ResponseWriter.WriteHeader(code) // a repeat (logged by net/http) or 1xx
		return
	}
	rec.status = code
	if rec.req.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		rec.discard = true
		writeError(rec.ResponseWriter, code, unmatchedMessage(rec.req, code, rec.Header().Get("Allow")), "")
		return
	}
	rec.ResponseWriter.WriteHeader(code)
}

// unmatchedMessage explains a 404 or 405 of a request that matched no route.
func unmatchedMessage(r *http.Request, code int, allow string) string {
	path := abbreviate([]byte(r.URL.Path))
	if code == http.StatusMethodNotAllowed {
		return "method " + r.Method + " not allowed on " + path + " (allowed: " + allow + ")"
	}
	return "not found: " + path
}

// Write writes b, after a 200 header if none was written.
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.discard {
		return len(b), nil
	}
	return rec.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (rec *recorder) Flush() {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	http.NewResponseController(rec.ResponseWriter).Flush() //nolint:errcheck // as http.Flusher
}

// Hijack lets the handler take over the connection.
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err == nil && rec.status == 0 {
		rec.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap returns the original ResponseWriter, for http.ResponseController.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }
