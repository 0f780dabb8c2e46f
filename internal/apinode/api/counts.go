package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Counts is the live view of the counts (a view.View kept up to date by
// package viewfeed).
type Counts interface {
	// Ready reports whether the view has caught up with the output topics.
	Ready() bool
	// Sizes returns the window sizes, in the order of the size indexes.
	Sizes() []window.Size
	// Counts returns the current and last closed window of video per size.
	Counts(video string, now time.Time) []view.SizeCounts
	// Top returns the current window of size index size and its limit
	// videos with the highest counts.
	Top(size int, now time.Time, limit int) (window.Window, []view.Ranked)
}

// Limits of GET /{stage}/videos/top.
const (
	DefaultTopLimit = 10
	MaxTopLimit     = 100
)

// windowJSON is one window of a video in an answer.
type windowJSON struct {
	Start string `json:"window_start"`
	End   string `json:"window_end"`
	Count uint64 `json:"count"`
	Final bool   `json:"final"`
}

func windowOf(c view.Count) windowJSON {
	return windowJSON{Start: timeString(c.Start), End: timeString(c.End), Count: c.Count, Final: c.Final}
}

func timeString(ms int64) string { return string(record.AppendTime(nil, ms)) }

// sizeJSON is the counts of a video for one window size.
type sizeJSON struct {
	Window     string      `json:"window"`
	SizeMs     int64       `json:"size_ms"`
	Current    windowJSON  `json:"current"`
	LastClosed *windowJSON `json:"last_closed"`
}

// countsJSON is the answer of GET /{stage}/videos/{video_id}/counts.
type countsJSON struct {
	VideoID string     `json:"video_id"`
	Title   string     `json:"title,omitempty"`
	Windows []sizeJSON `json:"windows"`
}

// getCounts answers the counts of one video: per window size, the current
// window and the last closed one.
func (s *Server) getCounts(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) || !s.checkReady(w) {
		return
	}
	id := r.PathValue("video_id")
	if err := videoid.ValidateString(id); err != nil {
		s.metrics.reject(reasonBadID)
		writeError(w, http.StatusBadRequest, err.Error(), string(videoid.ReasonOf(err)))
		return
	}
	out := countsJSON{VideoID: id, Title: s.title(id)}
	for _, sc := range s.counts.Counts(id, time.Now()) {
		sj := sizeJSON{Window: sc.Size.Label, SizeMs: sc.Size.Millis, Current: windowOf(sc.Current)}
		if sc.LastClosed != nil {
			lc := windowOf(*sc.LastClosed)
			sj.LastClosed = &lc
		}
		out.Windows = append(out.Windows, sj)
	}
	writeValue(w, http.StatusOK, out)
}

// rankedJSON is one video of a top list.
type rankedJSON struct {
	VideoID string `json:"video_id"`
	Title   string `json:"title,omitempty"`
	Count   uint64 `json:"count"`
}

// topJSON is the answer of GET /{stage}/videos/top.
type topJSON struct {
	Window string       `json:"window"`
	Start  string       `json:"window_start"`
	End    string       `json:"window_end"`
	Videos []rankedJSON `json:"videos"`
}

// getTop answers the videos with the most likes in the current window of a
// size: ?window=1m (a configured size, as a duration or a label; the
// smallest by default) &limit=10 (1 to MaxTopLimit).
func (s *Server) getTop(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) || !s.checkReady(w) {
		return
	}
	q := r.URL.Query()
	sizes := s.counts.Sizes()
	size, ok := sizeParam(sizes, q.Get("window"))
	if !ok {
		labels := make([]string, len(sizes))
		for i, sz := range sizes {
			labels[i] = sz.Label
		}
		s.metrics.reject(reasonBadQuery)
		writeError(w, http.StatusBadRequest, "window must be one of the window sizes: "+strings.Join(labels, ", "), "")
		return
	}
	limit := DefaultTopLimit
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxTopLimit {
			s.metrics.reject(reasonBadQuery)
			writeError(w, http.StatusBadRequest, "limit must be an integer from 1 to "+strconv.Itoa(MaxTopLimit)+", got "+abbreviate([]byte(v)), "")
			return
		}
		limit = n
	}
	win, ranked := s.counts.Top(size, time.Now(), limit)
	out := topJSON{Window: sizes[size].Label, Start: timeString(win.Start), End: timeString(win.End()), Videos: make([]rankedJSON, len(ranked))}
	for i, rk := range ranked {
		out.Videos[i] = rankedJSON{VideoID: rk.Video, Title: s.title(rk.Video), Count: rk.Count}
	}
	writeValue(w, http.StatusOK, out)
}

// sizeParam finds the size named by a window parameter: a label ("1min",
// "2s") or a Go duration ("1m", "60s"); empty means the smallest size.
func sizeParam(sizes []window.Size, v string) (int, bool) {
	if v == "" {
		smallest := 0
		for i, sz := range sizes {
			if sz.Millis < sizes[smallest].Millis {
				smallest = i
			}
		}
		return smallest, len(sizes) > 0
	}
	for i, sz := range sizes {
		if sz.Label == v {
			return i, true
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, false
	}
	for i, sz := range sizes {
		if sz.Millis == d.Milliseconds() && d%time.Millisecond == 0 {
			return i, true
		}
	}
	return 0, false
}

// checkReady answers 503 and returns false while the view is loading.
func (s *Server) checkReady(w http.ResponseWriter) bool {
	if s.counts.Ready() {
		return true
	}
	s.metrics.reject(reasonNotReady)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "the live view is still loading the output topics", "")
	return false
}

// title returns the catalog title of a video, or "".
func (s *Server) title(id string) string {
	if s.catalog == nil {
		return ""
	}
	t, _ := s.catalog.Title(id)
	return t
}
