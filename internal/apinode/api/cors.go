package api

import (
	"net/http"
	"strings"
)

// The answers to a CORS preflight request.
const (
	corsAllowMethods = "GET, HEAD, POST, DELETE, OPTIONS"
	corsAllowHeaders = "Content-Type, Idempotency-Key"
	corsMaxAge       = "3600" // seconds browsers may cache a preflight answer
)

// cors decides which browser origins may call the API.
type cors struct {
	anyOrigin bool
	origins   map[string]bool
}

// newCORS allows the listed origins ("https://example.com"); "*" allows any.
func newCORS(origins []string) cors {
	c := cors{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			c.anyOrigin = true
		}
		c.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return c
}

func (c cors) allowed(origin string) bool {
	return c.anyOrigin || c.origins[origin]
}

// decorate sets the CORS headers of an ordinary response.
func (c cors) decorate(h http.Header, origin string) {
	if c.anyOrigin {
		if origin != "" {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		return
	}
	// The answer depends on the origin: caches must keep one per origin.
	h.Add("Vary", "Origin")
	if origin != "" && c.origins[origin] {
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

// isPreflight reports whether r is a browser's CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a preflight request: 204 with the allowed methods and
// headers, or 403 if the origin is not allowed.
func (s *Server) preflight(w http.ResponseWriter, origin string) {
	h := w.Header()
	c := s.cors
	if !c.anyOrigin {
		h.Add("Vary", "Origin")
	}
	if !c.allowed(origin) {
		s.metrics.reject(reasonOrigin)
		writeError(w, http.StatusForbidden, "origin "+abbreviate([]byte(origin))+" is not allowed", "")
		return
	}
	if c.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}
