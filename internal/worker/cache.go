package worker

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
)

// The window cache keeps a complete in-memory copy of the committed counts of
// recent windows, so that counting a like and closing a window read no store.
//
// A window is cached only when it is created after its task was loaded: then
// every count it holds went through this worker's apply, so the copy is
// complete and a miss means 0. Windows restored from the store (after a
// restart or a rebalance) keep reading the store. The cache holds at most
// Config.CacheKeys counts per worker; past that, the windows that close
// first are evicted (their counts stay in the store, which they read from
// then on) and are never cached again.
//
// The store (with the counts pending for it, see pending.go) stays the
// committed state; the cache only saves reads.

// partState is the task.State of an owned partition: its committed counts
// are read from the window cache, else from the counts pending for the next
// checkpoint (pending.go), else from the store; its idempotency records from
// the store.
type partState struct {
	w *Worker
	o *owned
	p int32
}

func (s partState) Count(win window.Window, id []byte) (uint64, error) {
	if counts, ok := s.o.cache[win]; ok {
		return counts[string(id)], nil
	}
	if c, ok := s.w.pendingCount(s.p, win, id); ok {
		return c, nil
	}
	s.w.key = store.CountKey(s.w.key[:0], s.p, win, id)
	return s.w.store.Count(s.w.key)
}

func (s partState) EachCount(win window.Window, fn func(id string, c uint64)) error {
	if counts, ok := s.o.cache[win]; ok {
		for id, c := range counts {
			fn(id, c)
		}
		return nil
	}
	// The store, with the counts pending for it (pending.go) over it.
	var pending map[string]uint64
	if pt := s.w.pending[s.p]; pt != nil {
		pending = pt.counts[win]
	}
	var seen map[string]bool
	if len(pending) > 0 {
		seen = make(map[string]bool, len(pending))
	}
	err := s.w.store.ScanWindow(s.p, win, func(idb []byte, c uint64) error {
		id := string(idb)
		if d, ok := pending[id]; ok {
			c = d
			seen[id] = true
		}
		fn(id, c)
		return nil
	})
	if err != nil {
		return err
	}
	for id, c := range pending {
		if !seen[id] {
			fn(id, c)
		}
	}
	return nil
}

// DedupID is the store key of the idempotency record.
func (s partState) DedupID(video, key []byte) string {
	return string(store.DedupKey(nil, s.p, video, key))
}

func (s partState) Dedup(id string) (record.Dedup, bool, error) {
	v, found, err := s.w.store.Get([]byte(id))
	if err != nil || !found {
		return record.Dedup{}, false, err
	}
	d, ok := store.DecodeDedup(v)
	if !ok {
		return record.Dedup{}, false, fmt.Errorf("corrupt idempotency record %x", id)
	}
	return d, true, nil
}

// EachDedup skips records it cannot decode (Dedup reports them).
func (s partState) EachDedup(fn func(id string, d record.Dedup) error) error {
	lo, hi := store.DedupRange(s.p)
	return s.w.store.Scan(lo, hi, func(k, v []byte) error {
		d, ok := store.DecodeDedup(v)
		if !ok {
			return nil
		}
		return fn(string(k), d)
	})
}

// cacheCommitted updates the cache with the counts of window win that a
// transaction committed; created tells whether the window is new (had no
// committed state before). A new window adopts the map of its changes.
func (w *Worker) cacheCommitted(tk *owned, win window.Window, changes map[string]uint64, created bool) {
	if created {
		if w.cfg.CacheKeys == 0 || w.cachedKeys+int64(len(changes)) > int64(w.cfg.CacheKeys) {
			return
		}
		if tk.cache == nil {
			tk.cache = map[window.Window]map[string]uint64{}
		}
		tk.cache[win] = changes
		w.cachedKeys += int64(len(changes))
		return
	}
	counts, ok := tk.cache[win]
	if !ok {
		return
	}
	for id, c := range changes {
		if _, had := counts[id]; !had {
			w.cachedKeys++
		}
		counts[id] = c
	}
}

// uncache drops the cached copy of window win of tk, if any.
func (w *Worker) uncache(tk *owned, win window.Window) {
	if counts, ok := tk.cache[win]; ok {
		w.cachedKeys -= int64(len(counts))
		delete(tk.cache, win)
	}
}

// uncacheTask drops every cached window of tk (it is no longer owned).
func (w *Worker) uncacheTask(tk *owned) {
	for win := range tk.cache {
		w.uncache(tk, win)
	}
}

// trimCache evicts windows, those that close first first, until the cache
// holds at most Config.CacheKeys counts.
func (w *Worker) trimCache() {
	if w.cachedKeys <= int64(w.cfg.CacheKeys) {
		return
	}
	type cached struct {
		tk  *owned
		win window.Window
	}
	var all []cached
	for _, tk := range w.tasks {
		for win := range tk.cache {
			all = append(all, cached{tk, win})
		}
	}
	slices.SortFunc(all, func(a, b cached) int {
		if a.win.End() != b.win.End() {
			return cmp.Compare(a.win.End(), b.win.End())
		}
		return cmp.Compare(a.win.Size, b.win.Size)
	})
	for _, c := range all {
		if w.cachedKeys <= int64(w.cfg.CacheKeys) {
			break
		}
		w.uncache(c.tk, c.win)
		w.m.CacheEvictions.Inc()
	}
}
