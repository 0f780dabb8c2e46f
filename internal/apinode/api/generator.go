package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/counter-dev/counter/internal/apinode/generator/plan"
)

// Generator is the server-side like generator (package generator
// implements it).
type Generator interface {
	// Start requests a run; plan.ErrRunActive (with the active run's
	// status) when one is scheduled or running.
	Start(ctx context.Context, req plan.Request) (plan.Status, error)
	// Status returns the latest run, if any.
	Status() (plan.Status, bool)
	// Cancel cancels the active run; plan.ErrNoActiveRun when none is.
	Cancel(ctx context.Context) (plan.Status, error)
}

// runJSON is the answer of the generator routes: {"run": status or null},
// with "error" when refused.
type runJSON struct {
	Error string       `json:"error,omitempty"`
	Run   *plan.Status `json:"run"`
}

// postGenerator starts a run: body {"videos": {"<id>": [10 integers]}},
// answer 201 {"run": status}; 409 with the active run when one is active.
func (s *Server) postGenerator(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := plan.ParseRequest(body)
	if err != nil {
		s.metrics.reject(reasonBadBody)
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	st, err := s.generator.Start(r.Context(), req)
	switch {
	case err == nil:
		writeValue(w, http.StatusCreated, runJSON{Run: &st})
	case errors.Is(err, plan.ErrRunActive):
		s.metrics.reject(reasonConflict)
		writeValue(w, http.StatusConflict, runJSON{Error: err.Error() + "; DELETE it first", Run: &st})
	default:
		s.unavailable(w, "generator", err)
	}
}

// getGenerator answers the status of the latest run: {"run": status}, or
// {"run": null} when there was none.
func (s *Server) getGenerator(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) {
		return
	}
	var out runJSON
	if st, ok := s.generator.Status(); ok {
		out.Run = &st
	}
	writeValue(w, http.StatusOK, out)
}

// deleteGenerator cancels the active run: 200 {"run": status}, 404 when no
// run is active.
func (s *Server) deleteGenerator(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) {
		return
	}
	st, err := s.generator.Cancel(r.Context())
	switch {
	case err == nil:
		writeValue(w, http.StatusOK, runJSON{Run: &st})
	case errors.Is(err, plan.ErrNoActiveRun):
		s.metrics.reject(reasonNotFound)
		writeError(w, http.StatusNotFound, err.Error(), "")
	default:
		s.unavailable(w, "generator", err)
	}
}
