package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// adminAuth guards the admin routes (every route that changes state other
// than a like) with a bearer token, when one is configured.
type adminAuth struct {
	on  bool
	sum [sha256.Size]byte // of the token: compared in constant time, whatever the length
}

func newAdminAuth(token string) adminAuth {
	if token == "" {
		return adminAuth{}
	}
	return adminAuth{on: true, sum: sha256.Sum256([]byte(token))}
}

// CheckAdminToken returns an error if token cannot be sent in an
// Authorization: Bearer header: it must be 1 to 4096 visible ASCII
// characters (no spaces).
func CheckAdminToken(token string) error {
	if token == "" {
		return errors.New("the admin token is empty")
	}
	if len(token) > 4096 {
		return errors.New("the admin token is longer than 4096 characters")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return errors.New("the admin token must be visible ASCII characters, without spaces")
		}
	}
	return nil
}

// admin returns h behind the admin token.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.authorized(w, r) {
			h(w, r)
		}
	}
}

// adminUnlessRead returns h, with requests other than GET and HEAD behind
// the admin token.
func (s *Server) adminUnlessRead(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || s.authorized(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// authorized reports whether r may use an admin route; if not, it has
// answered 401 (no bearer token) or 403 (a wrong one).
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if !s.auth.on {
		return true
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		s.metrics.reject(reasonUnauthorized)
		w.Header().Set("WWW-Authenticate", `Bearer realm="counter"`)
		writeError(w, http.StatusUnauthorized, "this route needs the admin token: Authorization: Bearer <token>", "")
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], s.auth.sum[:]) != 1 {
		s.metrics.reject(reasonForbidden)
		writeError(w, http.StatusForbidden, "wrong admin token", "")
		return false
	}
	return true
}
