package socketio

import (
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Engine.IO error codes, sent in the JSON body of HTTP 400 answers.
const (
	codeUnknownTransport = 0
	codeUnknownSID       = 1
	codeBadHandshake     = 2
	codeBadRequest       = 3
	codeForbidden        = 4
	codeUnsupportedEIO   = 5
)

var codeMessages = map[int]string{
	codeUnknownTransport: "Transport unknown",
	codeUnknownSID:       "Session ID unknown",
	codeBadHandshake:     "Bad handshake method",
	codeBadRequest:       "Bad request",
	codeForbidden:        "Forbidden",
	codeUnsupportedEIO:   "Unsupported protocol version",
}

// ServeHTTP serves the Engine.IO transports: long-polling requests and
// WebSocket handshakes, with or without a session id.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != srv.opts.Path && r.URL.Path != strings.TrimSuffix(srv.opts.Path, "/") {
		http.NotFound(w, r)
		return
	}
	if !srv.originAllowed(r) {
		writeError(w, http.StatusForbidden, codeForbidden)
		return
	}
	setCORSHeaders(w, r)
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
			w.Header().Set("Access-Control-Allow-Headers", h)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, http.StatusBadRequest, codeUnsupportedEIO)
		return
	}
	sid := q.Get("sid")
	switch q.Get("transport") {
	case "polling":
		srv.servePolling(w, r, sid)
	case "websocket":
		if r.Method != http.MethodGet {
			writeError(w, http.StatusBadRequest, codeBadHandshake)
			return
		}
		srv.serveWebSocket(w, r, sid)
	default:
		writeError(w, http.StatusBadRequest, codeUnknownTransport)
	}
}

// servePolling serves a long-polling handshake, poll or post.
func (srv *Server) servePolling(w http.ResponseWriter, r *http.Request, sid string) {
	if sid == "" {
		if r.Method != http.MethodGet {
			writeError(w, http.StatusBadRequest, codeBadHandshake)
			return
		}
		srv.handshakePolling(w)
		return
	}
	s := srv.session(sid)
	if s == nil {
		writeError(w, http.StatusBadRequest, codeUnknownSID)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.servePoll(w, r)
	case http.MethodPost:
		s.servePost(w, r)
	default:
		writeError(w, http.StatusBadRequest, codeBadRequest)
	}
}

// originAllowed tells whether a browser on the request's origin may use the
// server: same host, or a host matching Options.AllowedOrigins. Requests
// without an Origin header come from no browser page and are allowed.
func (srv *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, pattern := range srv.opts.AllowedOrigins {
		target := u.Host
		if strings.Contains(pattern, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(target)); ok && err == nil {
			return true
		}
	}
	return false
}

// setCORSHeaders lets the browser page that sent an allowed Origin read the
// answers of long-polling requests.
func setCORSHeaders(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
}

// writeError answers an Engine.IO error as JSON.
func writeError(w http.ResponseWriter, status, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"code":` + strconv.Itoa(code) + `,"message":` + strconv.Quote(codeMessages[code]) + `}`))
}

// writeText answers a plain-text body, as polling transports expect.
func writeText(w http.ResponseWriter, status int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
