package worker

import (
	"cmp"
	"maps"
	"slices"

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

// committedCount returns the committed count of id in window win of tk.
func (w *Worker) committedCount(tk *task, win window.Window, id []byte) (uint64, error) {
	if _, stored := tk.windows[win]; !stored {
		return 0, nil // a window without committed state has no counts
	}
	if counts, ok := tk.cache[win]; ok {
		return counts[string(id)], nil
	}
	if c, ok := w.pendingCount(tk.partition, win, id); ok {
		return c, nil
	}
	w.key = store.CountKey(w.key[:0], tk.partition, win, id)
	return w.store.Count(w.key)
}

// eachCount calls fn with every count of window win as of the end of
// transaction tt: the committed counts with tt's changes applied, and the
// counts tt created.
func (w *Worker) eachCount(tk *task, tt *taskTxn, win window.Window, fn func(id string, c uint64)) error {
	changed := tt.counts[win]
	if _, stored := tk.windows[win]; !stored {
		for id, c := range changed {
			fn(id, c)
		}
		return nil
	}
	if counts, ok := tk.cache[win]; ok {
		for id, c := range counts {
			if d, ok := changed[id]; ok {
				c = d
			}
			fn(id, c)
		}
		for id, c := range changed {
			if _, ok := counts[id]; !ok {
				fn(id, c)
			}
		}
		return nil
	}
	// The store, then the counts pending for it (pending.go), then tt.
	if pt := w.pending[tk.partition]; pt != nil && len(pt.counts[win]) > 0 {
		merged := maps.Clone(pt.counts[win])
		maps.Copy(merged, changed)
		changed = merged
	}
	var seen map[string]bool
	if len(changed) > 0 {
		seen = make(map[string]bool, len(changed))
	}
	err := w.store.ScanWindow(tk.partition, win, func(idb []byte, c uint64) error {
		id := string(idb)
		if d, ok := changed[id]; ok {
			c = d
			seen[id] = true
		}
		fn(id, c)
		return nil
	})
	if err != nil {
		return err
	}
	for id, c := range changed {
		if !seen[id] {
			fn(id, c)
		}
	}
	return nil
}

// cacheCommitted updates the cache with the counts of window win that a
// transaction committed; created tells whether the window is new (had no
// committed state before). A new window adopts the map of its changes.
func (w *Worker) cacheCommitted(tk *task, win window.Window, changes map[string]uint64, created bool) {
	if created {
		if w.cfg.CacheKeys < 0 || w.cachedKeys+int64(len(changes)) > int64(w.cfg.CacheKeys) {
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
func (w *Worker) uncache(tk *task, win window.Window) {
	if counts, ok := tk.cache[win]; ok {
		w.cachedKeys -= int64(len(counts))
		delete(tk.cache, win)
	}
}

// uncacheTask drops every cached window of tk (it is no longer owned).
func (w *Worker) uncacheTask(tk *task) {
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
		tk  *task
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
