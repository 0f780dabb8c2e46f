package ingest

import (
	"context"
	"sync/atomic"
	"time"
)

// deadlines hands out contexts that expire a fixed delay after they are
// asked for. Callers that ask within the same short step of time share one
// context, so that a call costs no allocation: at most one context is made
// per step. A caller's context expires between delay-step and delay after
// its call (plus the few microseconds by which concurrent callers' clocks
// may differ).
type deadlines struct {
	delay, step time.Duration
	cur         atomic.Pointer[window]
}

// window is the context shared by the callers of one step.
type window struct {
	context.Context
	index  int64 // wall-clock time divided by step
	cancel context.CancelFunc
}

func newDeadlines(delay time.Duration) *deadlines {
	return &deadlines{delay: delay, step: max(delay/64, time.Microsecond)}
}

// get returns a context that expires about delay after now.
func (d *deadlines) get(now time.Time) context.Context {
	k := now.UnixNano() / int64(d.step)
	for {
		cur := d.cur.Load()
		// A window one step ahead belongs to a caller that read the clock
		// just after us: sharing it costs us microseconds. Anything else
		// (an old window, or a clock that jumped back) is replaced.
		if cur != nil && (cur.index == k || cur.index == k+1) {
			return cur
		}
		offset := time.Duration(now.UnixNano() - k*int64(d.step))
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(d.delay-offset))
		next := &window{Context: ctx, index: k, cancel: cancel}
		if d.cur.CompareAndSwap(cur, next) {
			// The window's timer releases it when it expires: it cannot be
			// canceled earlier since records may still use it.
			return next
		}
		cancel() // another caller installed a window first; use theirs
	}
}
