// Package view is the API's materialized view of the output topics: the
// latest count of each video in the current and the recent windows of every
// configured size. It is pure logic: output records and the clock come in as
// arguments (package viewfeed reads the topics), and it is safe for
// concurrent use.
//
// Memory is bounded by time: a window is kept while it is at most Keep
// windows older than the current one (the window containing the clock), and
// records of older windows are refused as stale.
package view

import (
	"cmp"
	"container/heap"
	"sync"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// DefaultKeep is how many windows before the current one are kept by
// default: the last closed window stays available while the one before the
// current is still in its grace period.
const DefaultKeep = 2

// maxFuture bounds how far past the current window a record's window may
// start (the workers accept likes up to --max-future ahead of their clock,
// one minute by default); records further ahead are refused, so that a
// foreign producer cannot make the view grow without bound.
const maxFuture = 2 * time.Minute

// Result tells what Apply did with a record.
type Result int

// Results of Apply.
const (
	// Applied: the record changed the view.
	Applied Result = iota
	// Unchanged: the view already held that count (or the window's final).
	Unchanged
	// Stale: the window is older than the kept horizon, or too far ahead.
	Stale
	// UnknownSize: the record's window size is not configured, or its
	// window is not aligned to the size.
	UnknownSize
)

// String returns the result's name, used as a metric label.
func (r Result) String() string {
	switch r {
	case Applied:
		return "applied"
	case Unchanged:
		return "unchanged"
	case Stale:
		return "stale"
	case UnknownSize:
		return "unknown_size"
	}
	return "unknown"
}

// Change names a (video, window) whose count changed.
type Change struct {
	Size  int    // index of the window size in Sizes()
	Video string // video id
	Start int64  // window start, Unix ms
}

// Count is the count of one video in one window.
type Count struct {
	Start int64  `json:"-"`     // window start, Unix ms
	End   int64  `json:"-"`     // window end (exclusive), Unix ms
	Count uint64 `json:"count"` // likes counted so far
	// Final is true once the window's final record was seen (or, for a
	// closed window without a record of the video, it had no likes).
	Final bool `json:"final"`
}

// SizeCounts are the counts of one video for one window size.
type SizeCounts struct {
	Size window.Size // the window size
	// Current is the window containing the clock (count 0 if unknown).
	Current Count
	// LastClosed is the latest window known to be closed (a final record
	// of any video was seen for it) that is still kept; nil if none.
	LastClosed *Count
}

// Ranked is one entry of a top list.
type Ranked struct {
	Video string // video id
	Count uint64 // its count in the window
}

// cell is what the view holds per (video, window).
type cell struct {
	count uint64
	final bool
}

// sizeState is the view of one window size.
type sizeState struct {
	size    window.Size
	windows map[int64]map[string]cell // window start → video → count
	// closed is the start of the latest window a final was seen for;
	// valid when hasClosed.
	closed    int64
	hasClosed bool
}

// View is the materialized view. Create it with New.
type View struct {
	mu      sync.RWMutex
	keep    int64
	byLabel map[string]int
	sizes   []window.Size
	state   []*sizeState
}

// New returns an empty view of the given window sizes that keeps keep
// windows before the current one (DefaultKeep if keep < 1).
func New(sizes []window.Size, keep int) *View {
	if keep < 1 {
		keep = DefaultKeep
	}
	v := &View{keep: int64(keep), byLabel: make(map[string]int, len(sizes)), sizes: append([]window.Size(nil), sizes...)}
	for i, s := range sizes {
		v.byLabel[s.Label] = i
		v.state = append(v.state, &sizeState{size: s, windows: make(map[int64]map[string]cell)})
	}
	return v
}

// Sizes returns the window sizes of the view, in the order of Change.Size.
func (v *View) Sizes() []window.Size { return append([]window.Size(nil), v.sizes...) }

// SizeIndex returns the index of the size labelled label, or -1.
func (v *View) SizeIndex(label string) int {
	if i, ok := v.byLabel[label]; ok {
		return i
	}
	return -1
}

// Keep returns how many windows before the current one the view keeps.
func (v *View) Keep() int { return int(v.keep) }

// horizon returns the oldest window start of size s kept at now.
func (v *View) horizon(s window.Size, now int64) int64 {
	return window.Of(now, s.Millis).Start - v.keep*s.Millis
}

// Apply folds one output record into the view, as of the clock now. Counts
// are cumulative, so the latest record of a (video, window) replaces the
// previous one, except that nothing replaces a final.
func (v *View) Apply(a record.Aggregation, now time.Time) (Change, Result) {
	i, ok := v.byLabel[a.Type]
	if !ok {
		return Change{}, UnknownSize
	}
	size := v.sizes[i]
	start, end := a.WindowStart.UnixMilli(), a.WindowEnd.UnixMilli()
	if end-start != size.Millis || window.Of(start, size.Millis).Start != start {
		return Change{}, UnknownSize
	}
	nowMs := now.UnixMilli()
	if start < v.horizon(size, nowMs) || start > window.Of(nowMs, size.Millis).Start+max(maxFuture.Milliseconds(), v.keep*size.Millis) {
		return Change{}, Stale
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.state[i]
	w := st.windows[start]
	if w == nil {
		w = make(map[string]cell)
		st.windows[start] = w
	}
	old, had := w[a.VideoUID]
	if had && (old.final || old == cell{a.Count, a.Final}) {
		return Change{}, Unchanged
	}
	w[a.VideoUID] = cell{a.Count, a.Final}
	if a.Final && (!st.hasClosed || start > st.closed) {
		st.closed, st.hasClosed = start, true
	}
	return Change{Size: i, Video: a.VideoUID, Start: start}, Applied
}

// Prune drops the windows older than the kept horizon at now and returns
// how many it dropped.
func (v *View) Prune(now time.Time) int {
	nowMs := now.UnixMilli()
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, st := range v.state {
		h := v.horizon(st.size, nowMs)
		for start := range st.windows {
			if start < h {
				delete(st.windows, start)
				n++
			}
		}
	}
	return n
}

// Stats returns how many windows and (video, window) counts the view holds.
func (v *View) Stats() (windows, counts int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, st := range v.state {
		windows += len(st.windows)
		for _, w := range st.windows {
			counts += len(w)
		}
	}
	return windows, counts
}

// Get returns the count of video in the window of size index size starting
// at start, and whether the view holds one.
func (v *View) Get(size int, video string, start int64) (Count, bool) {
	st := v.state[size]
	v.mu.RLock()
	c, ok := st.windows[start][video]
	v.mu.RUnlock()
	return Count{Start: start, End: start + st.size.Millis, Count: c.count, Final: c.final}, ok
}

// Current returns the count of video in the window of size index size that
// contains now (0 when unknown).
func (v *View) Current(size int, video string, now time.Time) Count {
	st := v.state[size]
	c, _ := v.Get(size, video, window.Of(now.UnixMilli(), st.size.Millis).Start)
	return c
}

// Counts returns, per size, the current and the last closed window of video.
func (v *View) Counts(video string, now time.Time) []SizeCounts {
	nowMs := now.UnixMilli()
	out := make([]SizeCounts, len(v.state))
	v.mu.RLock()
	defer v.mu.RUnlock()
	for i, st := range v.state {
		ms := st.size.Millis
		cur := window.Of(nowMs, ms).Start
		c := st.windows[cur][video]
		out[i] = SizeCounts{Size: st.size, Current: Count{Start: cur, End: cur + ms, Count: c.count, Final: c.final}}
		if st.hasClosed && st.closed >= v.horizon(st.size, nowMs) {
			c, ok := st.windows[st.closed][video]
			out[i].LastClosed = &Count{Start: st.closed, End: st.closed + ms, Count: c.count, Final: c.final || !ok}
		}
	}
	return out
}

// Top returns the current window of size index size at now and its limit
// videos with the highest counts, highest first (ties by id).
func (v *View) Top(size int, now time.Time, limit int) (window.Window, []Ranked) {
	st := v.state[size]
	win := window.Of(now.UnixMilli(), st.size.Millis)
	if limit < 1 {
		return win, nil
	}
	h := &rankHeap{}
	v.mu.RLock()
	for id, c := range st.windows[win.Start] {
		r := Ranked{Video: id, Count: c.count}
		switch {
		case h.Len() < limit:
			heap.Push(h, r)
		case better(r, (*h)[0]):
			(*h)[0] = r
			heap.Fix(h, 0)
		}
	}
	v.mu.RUnlock()
	out := make([]Ranked, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(Ranked)
	}
	return win, out
}

// better orders a top list: higher count first, then lower id.
func better(a, b Ranked) bool {
	if a.Count != b.Count {
		return a.Count > b.Count
	}
	return cmp.Less(a.Video, b.Video)
}

// rankHeap is a min-heap of the best entries so far: its root is the worst.
type rankHeap []Ranked

func (h rankHeap) Len() int           { return len(h) }
func (h rankHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h rankHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *rankHeap) Push(x any)        { *h = append(*h, x.(Ranked)) }
func (h *rankHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
