package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets of microseconds: exact
// below 64 µs, then 32 buckets per power of two (about 3% resolution) up to
// about an hour. It is safe for concurrent use; recording allocates nothing.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	total  atomic.Int64
	max    atomic.Int64 // µs
}

const (
	histSub     = 32 // buckets per power of two above the linear range
	histLinear  = 2 * histSub
	histMaxExp  = 32 - 6 // 2^32 µs is over an hour
	histBuckets = histLinear + histSub*histMaxExp
)

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.counts[bucketOf(us)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() int64 { return h.total.Load() }

// Max returns the largest duration recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Quantile returns the duration below which a fraction q (0 to 1) of the
// recorded durations fall, as the upper bound of its bucket (0 if empty).
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(upperOf(i), h.max.Load())) * time.Microsecond
		}
	}
	return h.Max()
}

// bucketOf returns the bucket of a value in µs.
func bucketOf(us int64) int {
	if us < histLinear {
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 6 // us>>e is in [32, 64)
	if e >= histMaxExp {
		return histBuckets - 1
	}
	return histLinear + histSub*(e-1) + int(us>>e) - histSub
}

// upperOf returns the largest value in µs that falls into bucket i.
func upperOf(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	e := (i-histLinear)/histSub + 1
	sub := int64((i-histLinear)%histSub + histSub)
	return (sub+1)<<e - 1
}
