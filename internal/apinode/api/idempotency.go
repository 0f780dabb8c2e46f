package api

import "sync"

// DefaultIdempotencyKeys is how many (video, Idempotency-Key) pairs of like
// requests a Server remembers, to refuse a key reused with another count.
const DefaultIdempotencyKeys = 1 << 16

// keyMemory remembers the like count of the first request that used each
// (video, Idempotency-Key), within a bounded number of keys: two
// generations of at most max/2 each, the older dropped when the newer is
// full, so recently used keys stay.
type keyMemory struct {
	mu       sync.Mutex
	max      int
	cur, old map[idemKey]int
}

type idemKey struct{ video, key string }

func newKeyMemory(max int) *keyMemory {
	return &keyMemory{max: max, cur: map[idemKey]int{}}
}

// claim records that a request for n likes of video used key, unless the
// key is remembered for video already: then it returns the first request's
// count, and ok reports whether it is n.
func (m *keyMemory) claim(video, key string, n int) (first int, ok bool) {
	k := idemKey{video, key}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, found := m.cur[k]; found {
		return c, c == n
	}
	first, ok = n, true
	if c, found := m.old[k]; found {
		first, ok = c, c == n // moved to the newer generation: still in use
	}
	if len(m.cur) >= max(1, m.max/2) {
		m.old, m.cur = m.cur, make(map[idemKey]int, len(m.cur))
	}
	m.cur[k] = first
	return first, ok
}
