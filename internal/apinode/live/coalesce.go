package live

import (
	"cmp"
	"slices"
	"sync"

	"github.com/counter-dev/counter/internal/apinode/view"
)

// coalescer collects the (video, size, window) keys that changed since the
// last flush: however often a key changes in between, it is pushed once,
// with its latest count.
type coalescer struct {
	mu    sync.Mutex
	dirty map[view.Change]struct{}
	spare map[view.Change]struct{}
	wake  chan struct{} // holds a token when dirty is not empty
}

func newCoalescer() *coalescer {
	return &coalescer{dirty: map[view.Change]struct{}{}, spare: map[view.Change]struct{}{}, wake: make(chan struct{}, 1)}
}

// add marks changes dirty.
func (c *coalescer) add(changes []view.Change) {
	if len(changes) == 0 {
		return
	}
	c.mu.Lock()
	for _, ch := range changes {
		c.dirty[ch] = struct{}{}
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take returns the dirty keys, older windows first, into buf, and clears
// the set.
func (c *coalescer) take(buf []view.Change) []view.Change {
	c.mu.Lock()
	taken := c.dirty
	c.dirty, c.spare = c.spare, taken
	c.mu.Unlock()
	buf = buf[:0]
	for ch := range taken {
		buf = append(buf, ch)
	}
	clear(taken)
	// A window's final may come after the next window's first counts:
	// push the older window first.
	slices.SortFunc(buf, func(a, b view.Change) int { return cmp.Compare(a.Start, b.Start) })
	return buf
}
