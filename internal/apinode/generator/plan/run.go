package plan

import (
	"strconv"
)

// Run is one accepted (or requested) generator run: its schedule, aligned to
// the windows. Each step lasts StepMs (the smallest window size), step i
// covers [StartMs+i·StepMs, StartMs+(i+1)·StepMs), and StartMs is a multiple
// of StepMs, so every step is exactly one window of the smallest size.
//
// A step is divided into SlicesPerStep slices; the likes of a step are
// spread evenly over them and each slice's likes are sent with the slice's
// time as event time and the idempotency key of the slice, so that any
// instance that sends a slice again sends the same likes, which the workers
// count once.
type Run struct {
	ID        string       `json:"id"`         // random, unique
	StepMs    int64        `json:"step_ms"`    // length of a step
	StartMs   int64        `json:"start_ms"`   // start of the first step, a multiple of StepMs
	CreatedMs int64        `json:"created_ms"` // when it was requested, by the requester's clock
	Videos    []VideoLikes `json:"videos"`     // the schedule
}

// LeadMs is the least time between a run's request and its start: enough
// to record the request and for the runner to see it.
const LeadMs = 1000

// NewRun returns the run of req with id, requested at nowMs: it starts at
// the first step boundary at least LeadMs after nowMs.
func NewRun(id string, req Request, stepMs, nowMs int64) Run {
	return Run{ID: id, StepMs: stepMs, StartMs: ((nowMs+LeadMs)/stepMs + 1) * stepMs, CreatedMs: nowMs, Videos: req.Videos}
}

// SlicesPerStep returns how many slices a step of stepMs has: one per 100
// ms, at least 1 and at most 60 (one per second for a one-minute step).
func SlicesPerStep(stepMs int64) int {
	return int(min(max(stepMs/100, 1), 60))
}

// Slices returns the number of slices of the run.
func (r Run) Slices() int { return Steps * SlicesPerStep(r.StepMs) }

// EndMs returns the end of the last step.
func (r Run) EndMs() int64 { return r.StartMs + Steps*r.StepMs }

// Step returns the step of slice j.
func (r Run) Step(j int) int { return j / SlicesPerStep(r.StepMs) }

// SliceMs returns the time of slice j: when it is due, and the event time
// of its likes.
func (r Run) SliceMs(j int) int64 {
	s := SlicesPerStep(r.StepMs)
	return r.StartMs + int64(j/s)*r.StepMs + int64(j%s)*r.StepMs/int64(s)
}

// StepEndMs returns the end of the step of slice j.
func (r Run) StepEndMs(j int) int64 { return r.StartMs + int64(r.Step(j)+1)*r.StepMs }

// SliceLikes returns the likes of video index v in slice j: the likes of
// its step spread evenly over the step's slices.
func (r Run) SliceLikes(j, v int) int {
	s := SlicesPerStep(r.StepMs)
	n := r.Videos[v].Likes[j/s]
	k := j % s
	return (k+1)*n/s - k*n/s
}

// LikesBefore returns the likes of all the slices before slice j.
func (r Run) LikesBefore(j int) int {
	s := SlicesPerStep(r.StepMs)
	step, k := j/s, j%s
	total := 0
	for _, v := range r.Videos {
		for i := 0; i < step && i < Steps; i++ {
			total += v.Likes[i]
		}
		if step < Steps {
			// The first k slices of a step telescope to k·n/s.
			total += k * v.Likes[step] / s
		}
	}
	return total
}

// SliceTotal returns the likes of slice j, all videos together.
func (r Run) SliceTotal(j int) int {
	total := 0
	for v := range r.Videos {
		total += r.SliceLikes(j, v)
	}
	return total
}

// Total returns the likes of the whole run.
func (r Run) Total() int {
	total := 0
	for _, v := range r.Videos {
		for _, n := range v.Likes {
			total += n
		}
	}
	return total
}

// IdempotencyKey returns the idempotency key of the likes of slice j. Keys
// are scoped to a video by the workers, so all videos of a slice share it.
func (r Run) IdempotencyKey(j int) string { return "gen-" + r.ID + "-" + strconv.Itoa(j) }
