// Package watermark decides event-time progress, the pure part of how windows
// close. Times are Unix milliseconds.
//
// Each ingestion partition (a source) has a watermark: a time below which it
// will send no more likes, except records out of order by more than the
// grace period, which are late. A source's watermark is the largest
// timestamp it has forwarded, capped by the wall clock, or the wall clock
// itself when the source is caught up (nothing more to read: an idle source
// must not hold windows open). Sources send their watermark as marks into
// every partition of the partitioned topic, after the likes it covers.
//
// A partition's watermark is the minimum of the latest marks of all sources:
// only when every source has passed a window's close time can the window
// close. So a backlog read faster from one ingestion partition than another
// does not make the slower one's records late, and live and replayed
// processing of the same records close the same windows with the same counts.
package watermark

import "github.com/counter-dev/counter/internal/pipeline/window"

// None is the watermark of a source or partition that has none yet.
const None int64 = -1 << 63

// Mark is a source's watermark, as the source sends it into every partition
// of the partitioned topic (see record.AppendMark) and as a partition keeps
// the latest one of each source.
type Mark struct {
	Source    int32 // the ingestion partition that sent it
	Sources   int32 // how many ingestion partitions the sender reported
	Watermark int64 // Unix ms
}

// Combine returns the watermark of a partition: the minimum over all sources,
// or None while some source has not sent a mark. The number of sources is
// the largest any mark reported, so an added ingestion partition holds
// windows open until it reports too.
func Combine(marks map[int32]Mark) int64 {
	var n int32
	for _, m := range marks {
		n = max(n, m.Sources)
	}
	if n == 0 {
		return None
	}
	wm := int64(1<<63 - 1)
	for s := int32(0); s < n; s++ {
		m, ok := marks[s]
		if !ok {
			return None
		}
		wm = min(wm, m.Watermark)
	}
	return wm
}

// Source computes the watermark of one source from the watermark it already
// sent, the largest timestamp it has forwarded, and the wall clock. It never
// goes back.
func Source(sent, maxTs, now int64) int64 {
	return max(sent, min(maxTs, now))
}

// NeedsCaughtUpCheck reports whether the wall clock has passed a close
// boundary that the source's event time has not: then only a check that the
// source is caught up (its position is at its end) can let windows close.
func NeedsCaughtUpCheck(p window.Policy, wm, now int64) bool {
	return wm == None || p.Epoch(now) > p.Epoch(wm)
}

// ShouldSend reports whether a source with watermark wm, which last sent
// sent, must send a mark: when it has none yet, or when the new one can
// close a window that the last could not.
func ShouldSend(p window.Policy, sent, wm int64) bool {
	if wm == None {
		return false
	}
	return sent == None || p.Epoch(wm) > p.Epoch(sent)
}
