package loadgen

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the live counters of a load run, safe for concurrent use.
type Stats struct {
	// Sent counts likes handed to the target (HTTP requests written, records
	// given to the producer).
	Sent atomic.Int64
	// Acked counts likes the target acknowledged (HTTP 200, broker ack).
	Acked atomic.Int64
	// Requests counts acknowledged requests (HTTP requests answered 200, or
	// records acknowledged for Kafka).
	Requests atomic.Int64
	// Errors counts failed requests or records.
	Errors atomic.Int64
	// Latency holds the time from send to acknowledgement of every
	// acknowledged request.
	Latency Histogram

	mu    sync.Mutex
	kinds map[string]int64
}

// fail counts one failure of the given kind ("http 503", "connect", ...).
func (s *Stats) fail(kind string) {
	s.Errors.Add(1)
	s.mu.Lock()
	if s.kinds == nil {
		s.kinds = map[string]int64{}
	}
	s.kinds[kind]++
	s.mu.Unlock()
}

// ErrorKinds returns the failures by kind.
func (s *Stats) ErrorKinds() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.kinds))
	for k, v := range s.kinds {
		out[k] = v
	}
	return out
}

// Result summarizes a finished run.
type Result struct {
	Elapsed    time.Duration
	Sent       int64 // likes sent
	Acked      int64 // likes acknowledged
	Requests   int64 // requests acknowledged
	Errors     int64
	ErrorKinds map[string]int64
	P50, P99   time.Duration // acknowledgement latency of requests
	Max        time.Duration
}

// Result returns the summary of a run that took elapsed.
func (s *Stats) Result(elapsed time.Duration) Result {
	return Result{
		Elapsed: elapsed, Sent: s.Sent.Load(), Acked: s.Acked.Load(), Requests: s.Requests.Load(),
		Errors: s.Errors.Load(), ErrorKinds: s.ErrorKinds(),
		P50: s.Latency.Quantile(0.50), P99: s.Latency.Quantile(0.99), Max: s.Latency.Max(),
	}
}

// RequestRate returns acknowledged requests per second.
func (r Result) RequestRate() float64 { return perSecond(r.Requests, r.Elapsed) }

// LikeRate returns acknowledged likes per second.
func (r Result) LikeRate() float64 { return perSecond(r.Acked, r.Elapsed) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Summary formats the result in a few lines.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "elapsed %v: sent %d likes, acknowledged %d likes in %d requests, %d errors\n",
		r.Elapsed.Round(time.Millisecond), r.Sent, r.Acked, r.Requests, r.Errors)
	fmt.Fprintf(&b, "rate %.0f likes/s, %.0f requests/s; latency p50 %v, p99 %v, max %v\n",
		r.LikeRate(), r.RequestRate(), r.P50, r.P99, r.Max)
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "errors %s: %d\n", k, r.ErrorKinds[k])
	}
	return b.String()
}

// Progress writes one line to w every interval until ctx ends: elapsed time,
// likes sent and acknowledged, errors, and the acknowledgement rate over the
// last interval.
func Progress(ctx context.Context, w io.Writer, s *Stats, interval time.Duration) {
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	last, lastAt := s.Acked.Load(), start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			acked := s.Acked.Load()
			rate := float64(acked-last) / now.Sub(lastAt).Seconds()
			fmt.Fprintf(w, "load %6s  sent %d  acked %d  errors %d  rate %.0f likes/s\n",
				now.Sub(start).Round(time.Second), s.Sent.Load(), acked, s.Errors.Load(), rate)
			last, lastAt = acked, now
		}
	}
}
