// Package window holds the pure logic of tumbling event-time windows: parsing
// window sizes, assigning a timestamp to its windows, and deciding when a
// window closes and when its state expires. Times are Unix milliseconds.
//
// A window of size s covers [start, start+s) with start a multiple of s
// counted from the Unix epoch, so every worker agrees on the boundaries. An
// event at exactly start+s belongs to the next window.
//
// Closing is driven by a watermark W: the event time up to which the input is
// known to be complete. A window [start, end) is closed once end+grace <= W;
// records that arrive for a closed window are late and are not counted. The
// state of a closed window is kept until end+grace+retention <= W.
package window

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Size is one configured window size.
type Size struct {
	// Millis is the window length in milliseconds.
	Millis int64
	// Label names the size in output records ("type") and Socket.IO events:
	// "1min", "5min" for whole minutes (as the original system), "2s" for
	// whole seconds, "1500ms" otherwise.
	Label string
	// TopicSuffix completes the output topic name video_aggregations_<suffix>:
	// the number of minutes for whole minutes ("1", "5", "10", as the
	// original system), the label otherwise ("2s").
	TopicSuffix string
}

// ParseSize parses one size in Go duration syntax ("1m", "2s", "1500ms").
// Sizes must be a positive whole number of milliseconds; tests use seconds and
// production minutes.
func ParseSize(s string) (Size, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return Size{}, fmt.Errorf("window size %q: %v", s, err)
	}
	if d <= 0 || d%time.Millisecond != 0 {
		return Size{}, fmt.Errorf("window size %q: must be a positive whole number of milliseconds", s)
	}
	return NewSize(d.Milliseconds()), nil
}

// NewSize returns the Size of ms milliseconds with its label and topic suffix.
func NewSize(ms int64) Size {
	switch {
	case ms%60000 == 0:
		n := strconv.FormatInt(ms/60000, 10)
		return Size{Millis: ms, Label: n + "min", TopicSuffix: n}
	case ms%1000 == 0:
		l := strconv.FormatInt(ms/1000, 10) + "s"
		return Size{Millis: ms, Label: l, TopicSuffix: l}
	default:
		l := strconv.FormatInt(ms, 10) + "ms"
		return Size{Millis: ms, Label: l, TopicSuffix: l}
	}
}

// ParseSizes parses a list of sizes, sorted ascending; duplicates and an empty
// list are errors.
func ParseSizes(list []string) ([]Size, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("no window sizes given")
	}
	var sizes []Size
	seen := map[int64]string{}
	for _, s := range list {
		sz, err := ParseSize(s)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[sz.Millis]; dup {
			return nil, fmt.Errorf("window sizes %q and %q are the same", prev, s)
		}
		seen[sz.Millis] = s
		sizes = append(sizes, sz)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i].Millis < sizes[j].Millis })
	return sizes, nil
}

// Window is one tumbling window of one size.
type Window struct {
	Size  int64 // length in ms
	Start int64 // inclusive, ms
}

// End returns the exclusive end of w.
func (w Window) End() int64 { return w.Start + w.Size }

// Of returns the window of size ms that contains ts. It floors towards minus
// infinity so that timestamps before the epoch are assigned correctly too.
func Of(ts, size int64) Window {
	start := ts - ts%size
	if ts%size < 0 {
		start -= size
	}
	return Window{Size: size, Start: start}
}

// DefaultGrace is the default grace period of every process that needs to
// know it (the workers close windows by it; the API's generator and the
// audit must agree with them).
const DefaultGrace = 5 * time.Second

// Policy is the windowing configuration shared by every worker.
type Policy struct {
	Sizes     []Size
	Grace     int64 // ms a window keeps accepting records after its end
	Retention int64 // ms the state of a closed window is kept after it closed
}

// NewPolicy checks and builds a Policy. A zero retention means the default,
// twice the largest window.
func NewPolicy(sizes []Size, grace, retention time.Duration) (Policy, error) {
	if len(sizes) == 0 {
		return Policy{}, fmt.Errorf("no window sizes")
	}
	if grace < 0 {
		return Policy{}, fmt.Errorf("grace %v is negative", grace)
	}
	if retention < 0 {
		return Policy{}, fmt.Errorf("retention %v is negative", retention)
	}
	p := Policy{Sizes: sizes, Grace: grace.Milliseconds(), Retention: retention.Milliseconds()}
	if retention == 0 {
		p.Retention = 2 * p.Largest()
	}
	return p, nil
}

// Largest returns the largest window size in ms.
func (p Policy) Largest() int64 {
	var m int64
	for _, s := range p.Sizes {
		m = max(m, s.Millis)
	}
	return m
}

// Assign returns the windows, one per size, that contain ts.
func (p Policy) Assign(ts int64) []Window {
	out := make([]Window, len(p.Sizes))
	for i, s := range p.Sizes {
		out[i] = Of(ts, s.Millis)
	}
	return out
}

// CloseTime returns the watermark at which w closes.
func (p Policy) CloseTime(w Window) int64 { return w.End() + p.Grace }

// Closed reports whether w is closed at watermark wm: no record is counted
// into it any more and its final count has been (or is now being) emitted.
func (p Policy) Closed(w Window, wm int64) bool { return p.CloseTime(w) <= wm }

// Expired reports whether the state of w can be deleted at watermark wm.
func (p Policy) Expired(w Window, wm int64) bool { return p.CloseTime(w)+p.Retention <= wm }

// Step returns the greatest common divisor of the sizes: every window end is
// a multiple of it, so a watermark can only close a window when it crosses
// k*Step()+Grace for some k.
func (p Policy) Step() int64 {
	var g int64
	for _, s := range p.Sizes {
		g = gcd(g, s.Millis)
	}
	return g
}

// Epoch numbers the close boundaries a watermark has passed:
// Epoch(a) == Epoch(b) means no window closes between watermarks a and b.
// Producers of watermarks use it to send one only when it can matter.
func (p Policy) Epoch(wm int64) int64 { return Of(wm-p.Grace, p.Step()).Start / p.Step() }

// Labels returns the labels of the sizes, e.g. ["1min" "5min" "10min"].
func (p Policy) Labels() []string {
	out := make([]string, len(p.Sizes))
	for i, s := range p.Sizes {
		out[i] = s.Label
	}
	return out
}

// SizeOf returns the configured Size of ms, and whether there is one.
func (p Policy) SizeOf(ms int64) (Size, bool) {
	for _, s := range p.Sizes {
		if s.Millis == ms {
			return s, true
		}
	}
	return Size{}, false
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
