package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/counter-dev/counter/internal/pipeline/catalog"
)

// Catalog is the shared video catalog (package videos implements it).
type Catalog interface {
	// List returns the videos, in a stable order.
	List() []catalog.Video
	// Title returns the title of a video, and whether it is in the catalog.
	Title(id string) (string, bool)
	// Add adds a video titled title (see catalog.NormalizeTitle) and
	// returns it; with an idempotency key, a retry returns the video added
	// by the first call. Errors wrapping catalog.ErrBadTitle are answered
	// 400, catalog.ErrConflict 409, any other 503.
	Add(ctx context.Context, title, idempotencyKey string) (v catalog.Video, created bool, err error)
}

// postVideo adds a video: body {"title": "..."}, answer 201 with the new
// catalog entry {"unique_identifier": "...", "title": "..."}.
func (s *Server) postVideo(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Title *string `json:"title"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() || req.Title == nil {
		s.metrics.reject(reasonBadBody)
		writeError(w, http.StatusBadRequest, `body must be {"title": "<1 to 200 characters>"}`, "")
		return
	}
	key, bad := parseIdempotencyKey(r.Header.Values("Idempotency-Key"))
	if bad != nil {
		s.metrics.reject(bad.reason)
		writeError(w, http.StatusBadRequest, bad.msg, "")
		return
	}
	v, _, err := s.catalog.Add(r.Context(), *req.Title, key)
	switch {
	case err == nil:
		writeValue(w, http.StatusCreated, v)
	case errors.Is(err, catalog.ErrBadTitle):
		s.metrics.reject(reasonBadBody)
		writeError(w, http.StatusBadRequest, err.Error(), "")
	case errors.Is(err, catalog.ErrConflict):
		s.metrics.reject(reasonConflict)
		writeError(w, http.StatusConflict, err.Error(), "")
	default:
		s.unavailable(w, "catalog", err)
	}
}

// unavailable answers 503 for a failure to reach the broker.
func (s *Server) unavailable(w http.ResponseWriter, what string, err error) {
	s.metrics.reject(reasonUnavailable)
	if s.logGate.open() {
		s.log.Warn("api: "+what+" unavailable (logged at most every 10s)", "err", err)
	}
	w.Header().Set("Retry-After", "1")
	msg := err.Error()
	if !strings.HasPrefix(msg, what) {
		msg = what + " unavailable: " + msg
	}
	writeError(w, http.StatusServiceUnavailable, msg, "")
}
