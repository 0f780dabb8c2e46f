package ingest

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// waiter collects the outcomes of the records of one SendLikes call.
// Waiters are pooled; promise is bound once so that producing a record
// allocates nothing for its callback.
type waiter struct {
	pending atomic.Int64
	failed  atomic.Int64
	mu      sync.Mutex
	err     error // first failure
	done    chan struct{}
	promise func(*kgo.Record, error)
}

var waiters = sync.Pool{New: func() any {
	w := &waiter{done: make(chan struct{}, 1)}
	w.promise = w.finish
	return w
}}

// getWaiter returns a waiter expecting n outcomes.
func getWaiter(n int) *waiter {
	w := waiters.Get().(*waiter)
	w.pending.Store(int64(n))
	w.failed.Store(0)
	w.err = nil
	return w
}

// putWaiter recycles w; only once every expected outcome has arrived.
func putWaiter(w *waiter) {
	w.err = nil
	waiters.Put(w)
}

// finish records one outcome; it is the promise given to kgo.
func (w *waiter) finish(_ *kgo.Record, err error) {
	if err != nil {
		w.failed.Add(1)
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	if w.pending.Add(-1) == 0 {
		w.done <- struct{}{}
	}
}

// result returns how many records failed and the first failure; valid once
// done has fired.
func (w *waiter) result() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.failed.Load()), w.err
}
