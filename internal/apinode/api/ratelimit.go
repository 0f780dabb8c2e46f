package api

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"
)

// LikeLimit configures the optional rate limit of likes per client: a
// token bucket per client address, refilled at Rate likes a second up to
// Burst. A like request of {"count": n} costs n likes; a client over its
// limit gets 429 with Retry-After.
type LikeLimit struct {
	// Rate is the likes a second each client may send; 0 disables the
	// limit.
	Rate float64
	// Burst is how many likes a client may send at once: the size of its
	// bucket. Zero means ten seconds of Rate (at least 1). A request of more
	// likes than Burst is let through when the bucket is full, leaving it
	// in debt: a client still gets Rate likes a second on average.
	Burst int
	// TrustedProxies are the networks of the reverse proxies in front of
	// the API: for a request from one of them, the client is the last
	// address in X-Forwarded-For that is not a trusted proxy. Requests from
	// other addresses are limited by their own address.
	TrustedProxies []netip.Prefix
	// MaxClients bounds the buckets kept (DefaultMaxClients if zero): the
	// least recently seen client's is dropped to make room. Buckets of
	// clients idle long enough to have refilled are dropped anyway.
	MaxClients int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// DefaultMaxClients is the default of LikeLimit.MaxClients: about 15 MB of
// buckets.
const DefaultMaxClients = 100_000

// limiter holds one token bucket per client, least recently used last.
type limiter struct {
	rate, burst float64
	max         int
	now         func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*list.Element // of *bucket
	lru     list.List
}

type bucket struct {
	client netip.Addr
	tokens float64 // negative: in debt after a request larger than the burst
	at     time.Time
}

// newLimiter returns the limiter of cfg, or nil if cfg.Rate is 0.
func newLimiter(cfg LikeLimit) *limiter {
	if cfg.Rate <= 0 {
		return nil
	}
	l := &limiter{rate: cfg.Rate, burst: float64(cfg.Burst), max: cfg.MaxClients, now: cfg.Now, buckets: map[netip.Addr]*list.Element{}}
	if l.burst <= 0 {
		l.burst = math.Max(1, math.Ceil(10*cfg.Rate))
	}
	if l.max <= 0 {
		l.max = DefaultMaxClients
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// take charges cost likes to client. It returns true if they may be sent,
// or false and how long until they may.
func (l *limiter) take(client netip.Addr, cost int) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropIdle(now)
	var b *bucket
	if e := l.buckets[client]; e != nil {
		b = e.Value.(*bucket)
		l.lru.MoveToFront(e)
		if elapsed := now.Sub(b.at); elapsed > 0 {
			b.tokens = math.Min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
			b.at = now
		}
	} else {
		if len(l.buckets) >= l.max {
			l.remove(l.lru.Back())
		}
		b = &bucket{client: client, tokens: l.burst, at: now}
		l.buckets[client] = l.lru.PushFront(b)
	}
	need := math.Min(float64(cost), l.burst)
	if b.tokens >= need {
		b.tokens -= float64(cost)
		return true, 0
	}
	return false, time.Duration((need - b.tokens) / l.rate * float64(time.Second))
}

// dropIdle drops the buckets that have refilled since their client's last
// request: a new bucket would be the same.
func (l *limiter) dropIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		b := e.Value.(*bucket)
		if now.Sub(b.at).Seconds()*l.rate < l.burst-b.tokens {
			return
		}
		l.remove(e)
	}
}

func (l *limiter) remove(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).client)
	l.lru.Remove(e)
}

// clients returns the number of buckets held.
func (l *limiter) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter formats d as whole seconds for Retry-After, at least 1.
func retryAfter(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}
