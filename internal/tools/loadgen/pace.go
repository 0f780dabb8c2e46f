package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// pacer hands out request slots: slot k is due at start + k/rate, or at once
// when rate is 0. The run ends after max slots (0: no limit) or at end,
// whichever comes first. Safe for concurrent use.
type pacer struct {
	start    time.Time
	end      time.Time
	interval float64 // ns between slots, 0 for as fast as possible
	max      int64
	next     atomic.Int64
}

func newPacer(start time.Time, rate float64, d time.Duration, max int64) *pacer {
	p := &pacer{start: start, end: start.Add(d), max: max}
	if rate > 0 {
		p.interval = float64(time.Second) / rate
	}
	return p
}

// take waits for the next slot and reports whether the caller may send; it
// returns false once the run is over or ctx ends. A caller that is behind
// schedule gets its slot at once (the rate is a ceiling, not a promise).
func (p *pacer) take(ctx context.Context) bool {
	k := p.next.Add(1) - 1
	if p.max > 0 && k >= p.max {
		return false
	}
	due := p.start.Add(time.Duration(float64(k) * p.interval))
	if !due.Before(p.end) || ctx.Err() != nil {
		return false
	}
	if wait := time.Until(due); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return time.Now().Before(p.end)
}
