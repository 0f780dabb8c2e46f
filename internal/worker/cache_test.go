package worker

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/testkit"
)

// cacheWorker is a worker with only what the window cache needs: a store,
// metrics and one task.
func cacheWorker(t *testing.T, cacheKeys int) (*Worker, *task) {
	t.Helper()
	st, err := store.Open(t.TempDir(), testkit.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tk := &task{partition: 3, windows: map[window.Window]struct{}{}}
	return &Worker{cfg: Config{CacheKeys: cacheKeys}, m: NewMetrics(prometheus.NewRegistry()), store: st,
		tasks: map[int32]*task{3: tk}}, tk
}

// commit stands for apply: the store gets the counts, then the cache.
func commit(t *testing.T, w *Worker, tk *task, win window.Window, counts map[string]uint64) {
	t.Helper()
	b := w.store.NewBatch()
	for id, c := range counts {
		if err := b.Set(store.CountKey(nil, tk.partition, win, []byte(id)), store.EncodeUint64(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	_, stored := tk.windows[win]
	tk.windows[win] = struct{}{}
	w.cacheCommitted(tk, win, maps.Clone(counts), !stored)
	w.trimCache()
}

func counts(t *testing.T, w *Worker, tk *task, win window.Window) map[string]uint64 {
	t.Helper()
	got := map[string]uint64{}
	if err := w.eachCount(tk, &taskTxn{}, win, func(id string, c uint64) { got[id] = c }); err != nil {
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
	if c, err := w.committedCount(tk, early, []byte("b")); err != nil || c != 2 {
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

func TestCacheOverlaysTheTransaction(t *testing.T) {
	for _, cacheKeys := range []int{100, -1} { // cached and store-only
		w, tk := cacheWorker(t, cacheKeys)
		win := window.Window{Size: 1000, Start: 0}
		commit(t, w, tk, win, map[string]uint64{"a": 1, "b": 2})
		tt := &taskTxn{counts: map[window.Window]map[string]uint64{win: {"b": 7, "c": 1}}}
		got := map[string]uint64{}
		if err := w.eachCount(tk, tt, win, func(id string, c uint64) {
			if _, dup := got[id]; dup {
				t.Errorf("cache %d: %s seen twice", cacheKeys, id)
			}
			got[id] = c
		}); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, map[string]uint64{"a": 1, "b": 7, "c": 1}) {
			t.Errorf("cache %d: counts with the transaction %v", cacheKeys, got)
		}
		if c, _ := w.committedCount(tk, win, []byte("b")); c != 2 {
			t.Errorf("cache %d: committed count of b = %d", cacheKeys, c)
		}
		if c, _ := w.committedCount(tk, win, []byte("zzz")); c != 0 {
			t.Errorf("cache %d: committed count of an absent id = %d", cacheKeys, c)
		}
	}
}
