package worker

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/worker/task"
)

// cacheWorker is a worker with only what the window cache needs: a store,
// metrics and one owned partition.
func cacheWorker(t *testing.T, cacheKeys int) (*Worker, *owned) {
	t.Helper()
	st, err := store.Open(t.TempDir(), testkit.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &Worker{cfg: Config{CacheKeys: cacheKeys}, m: NewMetrics(prometheus.NewRegistry()), store: st}
	tk := w.newOwned(3, 0, task.Restored{})
	w.tasks = map[int32]*owned{3: tk}
	return w, tk
}

// commit stands for apply: the store gets the counts, then the cache.
func commit(t *testing.T, w *Worker, tk *owned, win window.Window, counts map[string]uint64) {
	t.Helper()
	b := w.store.NewBatch()
	for id, c := range counts {
		if err := b.Set(store.CountKey(nil, tk.core.Partition(), win, []byte(id)), store.EncodeUint64(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	_, stored := known[tk][win]
	if known[tk] == nil {
		known[tk] = map[window.Window]bool{}
	}
	known[tk][win] = true
	w.cacheCommitted(tk, win, maps.Clone(counts), !stored)
	w.trimCache()
}

// known holds the windows commit wrote, per partition.
var known = map[*owned]map[window.Window]bool{}

func counts(t *testing.T, w *Worker, tk *owned, win window.Window) map[string]uint64 {
	t.Helper()
	got := map[string]uint64{}
	if err := (partState{w: w, o: tk, p: tk.core.Partition()}).EachCount(win, func(id string, c uint64) { got[id] = c }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCacheEvictsTheWindowsThatCloseFirst(t *testing.T) {
	w, tk := cacheWorker(t, 4)
	early := window.Window{Size: 1000, Start: 0}
	late := window.Window{Size: 1000, Start: 1000}
	commit(t, w, tk, early, map[string]uint64{"a": 1, "b": 2})
	commit(t, w, tk, late, map[string]uint64{"a": 5})
	if len(tk.cache) != 2 || w.cachedKeys != 3 {
		t.Fatalf("cache holds %d windows, %d keys; want 2, 3", len(tk.cache), w.cachedKeys)
	}
	// The late window grows past the budget: the early one goes.
	commit(t, w, tk, late, map[string]uint64{"b": 1, "c": 1})
	if _, ok := tk.cache[early]; ok || w.cachedKeys != 3 {
		t.Fatalf("after growing past the budget: early cached %v, %d keys", ok, w.cachedKeys)
	}
	// The evicted window reads the store, with every count.
	if got := counts(t, w, tk, early); !maps.Equal(got, map[string]uint64{"a": 1, "b": 2}) {
		t.Fatalf("evicted window counts %v", got)
	}
	if c, err := (partState{w: w, o: tk, p: 3}).Count(early, []byte("b")); err != nil || c != 2 {
		t.Fatalf("evicted window count of b = %d, %v", c, err)
	}
	// It is never cached again: a partial copy would miss counts.
	commit(t, w, tk, early, map[string]uint64{"b": 3})
	if _, ok := tk.cache[early]; ok {
		t.Fatal("an evicted window was cached again")
	}
	if got := counts(t, w, tk, late); !maps.Equal(got, map[string]uint64{"a": 5, "b": 1, "c": 1}) {
		t.Fatalf("cached window counts %v", got)
	}
	// A new window larger than the budget is not cached at all.
	big := window.Window{Size: 1000, Start: 2000}
	commit(t, w, tk, big, map[string]uint64{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1})
	if _, ok := tk.cache[big]; ok || w.cachedKeys > 4 {
		t.Fatalf("window above the budget cached: %v, %d keys", ok, w.cachedKeys)
	}
	if got := counts(t, w, tk, big); len(got) != 5 {
		t.Fatalf("uncached window counts %v", got)
	}
}

// A core reads the committed counts through partState: the cache when it
// holds the window, else the counts pending for the checkpoint over the
// store.
func TestStateReadsCacheElsePendingOverStore(t *testing.T) {
	for _, cacheKeys := range []int{100, 0} { // cached and store-only (0 disables the cache)
		w, tk := cacheWorker(t, cacheKeys)
		w.pending = map[int32]*pendingTask{}
		win := window.Window{Size: 1000, Start: 0}
		commit(t, w, tk, win, map[string]uint64{"a": 1, "b": 2})
		// A later transaction's counts, committed but not checkpointed
		// (as apply leaves them).
		later := map[string]uint64{"b": 7, "c": 1}
		w.deferCounts(3, win, later)
		w.cacheCommitted(tk, win, maps.Clone(later), false)
		st := partState{w: w, o: tk, p: 3}
		got := map[string]uint64{}
		if err := st.EachCount(win, func(id string, c uint64) {
			if _, dup := got[id]; dup {
				t.Errorf("cache %d: %s seen twice", cacheKeys, id)
			}
			got[id] = c
		}); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, map[string]uint64{"a": 1, "b": 7, "c": 1}) {
			t.Errorf("cache %d: counts %v", cacheKeys, got)
		}
		if c, _ := st.Count(win, []byte("b")); c != 7 {
			t.Errorf("cache %d: committed count of b = %d", cacheKeys, c)
		}
		if c, _ := st.Count(win, []byte("zzz")); c != 0 {
			t.Errorf("cache %d: committed count of an absent id = %d", cacheKeys, c)
		}
	}
}
