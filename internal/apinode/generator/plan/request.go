// Package plan is the pure logic of the server-side like generator: the
// request and its validation, the schedule of a run (which likes to send
// when, under which idempotency keys), and the replicated state of the runs
// (a deterministic state machine over the records of the generator's
// topic, so every API instance derives the same state from the same log).
package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

// Steps is the number of steps of a run, as in the original UI: ten
// numbers per video.
const Steps = 10

// Limits of a request.
const (
	// MaxVideos bounds the videos of one run.
	MaxVideos = 200
	// MaxLikesPerStep bounds the likes of one video in one step.
	MaxLikesPerStep = 10_000
)

// ErrBadRequest is wrapped by the errors of ParseRequest.
var ErrBadRequest = errors.New("invalid generator request")

// VideoLikes is the schedule of one video: its likes in each step.
type VideoLikes struct {
	ID    string `json:"id"`    // the video id
	Likes []int  `json:"likes"` // likes per step, Steps numbers
}

// Request is a validated generator request, videos sorted by id.
type Request struct {
	Videos []VideoLikes // the schedule of each video, sorted by id
}

// ParseRequest decodes and validates a request body:
// {"videos": {"<video id>": [Steps integers from 0 to MaxLikesPerStep]}},
// with 1 to MaxVideos videos and at least one like in all.
func ParseRequest(body []byte) (Request, error) {
	var req struct {
		Videos map[string]json.RawMessage `json:"videos"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, bad(`body must be {"videos": {"<video id>": [%d integers]}}: %s`, Steps, strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return Request{}, bad("unexpected data after the JSON object")
	}
	if len(req.Videos) == 0 || len(req.Videos) > MaxVideos {
		return Request{}, bad("videos must hold 1 to %d videos, got %d", MaxVideos, len(req.Videos))
	}
	out := Request{Videos: make([]VideoLikes, 0, len(req.Videos))}
	total := 0
	for id, raw := range req.Videos {
		if err := videoid.ValidateString(id); err != nil {
			return Request{}, bad("video %q: %v", abbreviate(id), err)
		}
		var likes []int
		if err := json.Unmarshal(raw, &likes); err != nil || len(likes) != Steps {
			return Request{}, bad("video %s: want an array of %d integers", id, Steps)
		}
		for i, n := range likes {
			if n < 0 || n > MaxLikesPerStep {
				return Request{}, bad("video %s, step %d: %d likes, want 0 to %d", id, i+1, n, MaxLikesPerStep)
			}
			total += n
		}
		out.Videos = append(out.Videos, VideoLikes{ID: id, Likes: likes})
	}
	if total == 0 {
		return Request{}, bad("the schedule holds no likes")
	}
	slices.SortFunc(out.Videos, func(a, b VideoLikes) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
