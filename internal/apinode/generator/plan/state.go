package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/counter-dev/counter/internal/pipeline/record"
)

// Errors of the generator's operations.
var (
	// ErrRunActive: a run is scheduled or running; cancel it first.
	ErrRunActive = errors.New("a generator run is already scheduled or running")
	// ErrNoActiveRun: there is no run to cancel.
	ErrNoActiveRun = errors.New("no generator run is scheduled or running")
)

// Key prefixes of the generator's topic. Every run has its own keys, so
// compaction never drops a record that decided something; only older
// progress records of a run are compacted away.
const (
	runPrefix      = "run/"      // the run requested: Run JSON
	cancelPrefix   = "cancel/"   // the run was canceled: Cancel JSON
	progressPrefix = "progress/" // how far the runner got: Progress JSON
)

// RunKey, CancelKey and ProgressKey return the record keys of run id.
func RunKey(id string) string { return runPrefix + id }

// CancelKey returns the key of the cancel record of run id.
func CancelKey(id string) string { return cancelPrefix + id }

// ProgressKey returns the key of the progress records of run id.
func ProgressKey(id string) string { return progressPrefix + id }

// Cancel is the value of a cancel record.
type Cancel struct {
	AtMs int64 `json:"at_ms"` // when it was canceled
}

// Progress is the value of a progress record: slices before Next are done
// (sent, or skipped because they were too late).
type Progress struct {
	Next    int    `json:"next"`          // the first slice not done
	Skipped int    `json:"skipped_likes"` // likes of the slices given up
	Runner  string `json:"runner"`        // the instance that wrote it
	AtMs    int64  `json:"at_ms"`         // when it was written
}

// RunState is a run with what happened to it.
type RunState struct {
	Run        Run      // the run as requested
	Canceled   bool     // whether a cancel record was seen
	CanceledMs int64    // when it was canceled
	Progress   Progress // the latest progress recorded
}

// ActiveAt reports whether the run still occupies the generator at tMs:
// not canceled, not finished, and not past its end by more than a step
// (a run nobody finished stops blocking new ones).
func (rs *RunState) ActiveAt(tMs int64) bool {
	return !rs.Canceled && rs.Progress.Next < rs.Run.Slices() && tMs < rs.Run.EndMs()+rs.Run.StepMs
}

// maxVerdicts bounds the remembered verdicts of run requests.
const maxVerdicts = 256

// State is the generator's state as of some offset of its topic. Apply the
// records in log order; every instance then holds the same state. The zero
// State is empty and ready.
type State struct {
	current  *RunState       // the latest accepted run
	verdicts map[string]bool // run id → accepted, for recent requests
	order    []string        // verdicts, oldest first
}

// Apply folds one record of the topic into the state and reports whether
// the current run changed. A run request is accepted when no run is active
// at its creation time; a request made while one is active is rejected, in
// the same way on every instance. Tombstones, unknown keys and records of
// runs other than the current one change nothing.
func (s *State) Apply(key string, value []byte) (changed bool, err error) {
	if value == nil {
		return false, nil
	}
	switch {
	case strings.HasPrefix(key, runPrefix):
		var r Run
		if err := json.Unmarshal(value, &r); err != nil || r.ID != key[len(runPrefix):] || r.StepMs <= 0 || len(r.Videos) == 0 {
			return false, fmt.Errorf("bad run record %q", key)
		}
		for _, v := range r.Videos {
			if len(v.Likes) != Steps {
				return false, fmt.Errorf("bad run record %q: %d steps", key, len(v.Likes))
			}
		}
		if _, seen := s.verdicts[r.ID]; seen || (s.current != nil && s.current.Run.ID == r.ID) {
			return false, nil // a duplicate write of the same request
		}
		accepted := s.current == nil || !s.current.ActiveAt(r.CreatedMs)
		s.remember(r.ID, accepted)
		if accepted {
			s.current = &RunState{Run: r}
		}
		return accepted, nil
	case strings.HasPrefix(key, cancelPrefix):
		var c Cancel
		if err := json.Unmarshal(value, &c); err != nil {
			return false, fmt.Errorf("bad cancel record %q", key)
		}
		if s.current == nil || s.current.Run.ID != key[len(cancelPrefix):] || s.current.Canceled {
			return false, nil
		}
		s.current.Canceled, s.current.CanceledMs = true, c.AtMs
		return true, nil
	case strings.HasPrefix(key, progressPrefix):
		var p Progress
		if err := json.Unmarshal(value, &p); err != nil {
			return false, fmt.Errorf("bad progress record %q", key)
		}
		if s.current == nil || s.current.Run.ID != key[len(progressPrefix):] || p.Next <= s.current.Progress.Next {
			return false, nil // a former runner may report older progress
		}
		s.current.Progress = p
		return true, nil
	}
	return false, nil
}

func (s *State) remember(id string, accepted bool) {
	if s.verdicts == nil {
		s.verdicts = map[string]bool{}
	}
	s.verdicts[id] = accepted
	s.order = append(s.order, id)
	if len(s.order) > maxVerdicts {
		delete(s.verdicts, s.order[0])
		s.order = s.order[1:]
	}
}

// Verdict tells whether the request of run id was accepted, and whether it
// has been seen (recent requests only).
func (s *State) Verdict(id string) (accepted, seen bool) {
	accepted, seen = s.verdicts[id]
	return accepted, seen
}

// Current returns a copy of the latest accepted run, or nil.
func (s *State) Current() *RunState {
	if s.current == nil {
		return nil
	}
	c := *s.current
	return &c
}

// Run states, as reported in Status.State.
const (
	StateScheduled = "scheduled" // waiting for its first step
	StateRunning   = "running"
	StateDone      = "done"     // every slice was sent (or skipped)
	StateCanceled  = "canceled" // by DELETE /{stage}/generator
	StateExpired   = "expired"  // past its end, unfinished: no instance ran it
)

// Status is the public view of a run, for GET /{stage}/generator and the
// generator_progress event.
type Status struct {
	ID           string           `json:"id"`               // the run id
	State        string           `json:"state"`            // a State constant
	StepMs       int64            `json:"step_ms"`          // length of a step
	Steps        int              `json:"steps"`            // Steps
	Start        string           `json:"start"`            // start of the first step, RFC 3339
	End          string           `json:"end"`              // end of the last step
	CreatedAt    string           `json:"created_at"`       // when it was requested
	StepsDone    int              `json:"steps_done"`       // steps completely sent
	LikesTotal   int              `json:"likes_total"`      // likes of the schedule
	LikesSent    int              `json:"likes_sent"`       // likes sent so far
	LikesSkipped int              `json:"likes_skipped"`    // likes given up (too late)
	Runner       string           `json:"runner,omitempty"` // the instance that last recorded progress
	Videos       map[string][]int `json:"videos"`           // the schedule, by video id
}

// Status returns the status of the run at nowMs.
func (rs *RunState) Status(nowMs int64) Status {
	r := rs.Run
	p := rs.Progress
	st := Status{
		ID: r.ID, StepMs: r.StepMs, Steps: Steps,
		Start: timeString(r.StartMs), End: timeString(r.EndMs()), CreatedAt: timeString(r.CreatedMs),
		StepsDone:  min(p.Next/SlicesPerStep(r.StepMs), Steps),
		LikesTotal: r.Total(), LikesSent: r.LikesBefore(min(p.Next, r.Slices())) - p.Skipped, LikesSkipped: p.Skipped,
		Runner: p.Runner, Videos: make(map[string][]int, len(r.Videos)),
	}
	for _, v := range r.Videos {
		st.Videos[v.ID] = v.Likes
	}
	switch {
	case rs.Canceled:
		st.State = StateCanceled
	case p.Next >= r.Slices():
		st.State = StateDone
	case nowMs < r.StartMs:
		st.State = StateScheduled
	case nowMs < r.EndMs()+r.StepMs:
		st.State = StateRunning
	default:
		st.State = StateExpired
	}
	return st
}

func timeString(ms int64) string { return string(record.AppendTime(nil, ms)) }
