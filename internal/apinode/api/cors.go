package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The answers to a CORS preflight request.
const (
	corsAllowMethods = "GET, HEAD, POST, DELETE, OPTIONS"
	corsAllowHeaders = "Content-Type, Idempotency-Key"
	// corsAuthHeaders are allowed when an admin token is configured.
	corsAuthHeaders = corsAllowHeaders + ", Authorization"
	// corsExposeHeaders are the answers' headers a page may read besides
	// the CORS-safelisted ones.
	corsExposeHeaders = "Counter-Event-Time, Retry-After"
	corsMaxAge        = "3600" // seconds browsers may cache a preflight answer
)

// cors decides which browser origins may call the API.
type cors struct {
	anyOrigin bool
	origins   map[string]bool
	// authorization allows the Authorization header (an admin token is
	// configured).
	authorization bool
}

// newCORS allows the listed origins ("https://example.com", compared
// exactly but for case and a trailing slash); "*" allows any. CheckOrigins
// tells whether they are well-formed.
func newCORS(origins []string) cors {
	c := cors{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			c.anyOrigin = true
		}
		c.origins[normalizeOrigin(o)] = true
	}
	return c
}

func normalizeOrigin(o string) string { return strings.ToLower(strings.TrimSuffix(o, "/")) }

func (c cors) allowed(origin string) bool {
	return c.anyOrigin || c.origins[normalizeOrigin(origin)]
}

// CheckOrigins returns an error for the first item of origins that is
// neither "*" nor an origin: scheme://host[:port], without path, query or
// wildcards.
func CheckOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o, "*?\\") {
			return fmt.Errorf("%q is not an origin: want * or scheme://host[:port], such as https://app.example.com (no path, no wildcard)", o)
		}
	}
	return nil
}

// decorate sets the CORS headers of an ordinary response.
func (c cors) decorate(h http.Header, origin string) {
	if c.anyOrigin {
		if origin != "" {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		return
	}
	// The answer depends on the origin: caches must keep one per origin.
	h.Add("Vary", "Origin")
	if origin != "" && c.allowed(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
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
	if c.authorization {
		h.Set("Access-Control-Allow-Headers", corsAuthHeaders)
	} else {
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	}
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}
