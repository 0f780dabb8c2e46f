package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rec is a changelog record of a partition.
type rec struct {
	p     int32
	ck, v []byte // v nil: tombstone
}

// changelog returns about n records of partitions 0..parts-1 as workers
// write them, in transactions of one partition: counts of a few windows
// (rewritten many times, some deleted and some re-created), watermarks,
// idempotency records and a demo tick, and after the counts of a
// transaction the partition's key count (unless keyCounts is false, as in
// changelogs written before workers wrote it). counts holds the counts
// written so far, per partition (start with an empty map).
func changelog(rng *rand.Rand, parts int32, n int, keyCounts bool, counts map[int32]map[string]bool) []rec {
	wins := []window.Window{{Size: 60000, Start: 0}, {Size: 60000, Start: 60000}, {Size: 300000, Start: 0}}
	var out []rec
	for len(out) < n {
		p := rng.Int32N(parts)
		if counts[p] == nil {
			counts[p] = map[string]bool{}
		}
		changed := false
		for range 1 + rng.IntN(20) {
			var ck, v []byte
			switch r := rng.IntN(100); {
			case r < 80:
				id := fmt.Appendf(nil, "video-%d", rng.IntN(300))
				ck = ChangelogKey(CountKey(nil, p, wins[rng.IntN(len(wins))], id))
				if rng.IntN(5) > 0 {
					v = EncodeUint64(rng.Uint64N(1000) + 1)
				}
				counts[p][string(ck)] = v != nil
				changed = true
			case r < 90:
				ck = ChangelogKey(WatermarkKey(p, rng.Int32N(4)))
				v = EncodeSourceMark(watermark.Mark{Watermark: rng.Int64N(1e9), Sources: 4})
			case r < 97:
				ck = ChangelogKey(DedupKey(nil, p, fmt.Appendf(nil, "v%d", rng.IntN(20)), []byte("k")))
				if rng.IntN(3) > 0 {
					v = EncodeDedup(Dedup{First: rng.Int64N(1e9), Seen: []byte{byte(rng.Uint32())}})
				}
			case r < 98:
				// Keys no worker writes, around the local ones ('k', 'o');
				// a changelog offset must not be taken from the changelog.
				ck = []byte([]string{"", "o", "k\x00", "kz", "o\x00", "oz", "n", "p"}[rng.IntN(8)])
				v = EncodeInt64(rng.Int64N(1e9))
			default:
				ck = ChangelogKey(DemoKey(p))
				v = EncodeInt64(rng.Int64N(1e9))
			}
			out = append(out, rec{p, ck, v})
		}
		if changed && keyCounts {
			n := 0
			for _, live := range counts[p] {
				if live {
					n++
				}
			}
			out = append(out, rec{p, ChangelogKey(KeyCountKey(p)), EncodeInt64(int64(n))})
		}
	}
	return out
}

// model applies records to a map of state keys.
func model(recs []rec, into map[string][]byte) {
	for _, r := range recs {
		if localOnly(r.ck) {
			continue
		}
		k := string(StateKey(r.p, r.ck))
		if r.v == nil {
			delete(into, k)
		} else {
			into[k] = r.v
		}
	}
}

// dump returns every entry of the store.
func dump(t *testing.T, s *Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := s.Scan(nil, nil, func(k, v []byte) error {
		out[string(k)] = append([]byte(nil), v...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkState compares the store with the model and each partition's key
// count with a scan.
func checkState(t *testing.T, s *Store, want map[string][]byte, parts int32, next int64) {
	t.Helper()
	got := dump(t, s)
	for p := range parts {
		n, err := s.KeyCount(p)
		if err != nil {
			t.Fatal(err)
		}
		scanned, _ := s.scanKeyCount(p)
		if n != scanned {
			t.Errorf("partition %d: key count %d, scan finds %d", p, n, scanned)
		}
		if off, _ := s.ChangelogNext(p); off != next {
			t.Errorf("partition %d: changelog offset %d, want %d", p, off, next)
		}
		delete(got, string(KeyCountKey(p)))
		delete(got, string(offsetKey(p)))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("key %x: got %x, want %x", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %x", k)
		}
	}
}

// replay applies recs through batches of n records, as a tail replay does.
func replay(t *testing.T, s *Store, recs []rec, parts int32, n int, next int64) {
	t.Helper()
	b := s.NewBatch()
	for i, r := range recs {
		if err := b.Replay(r.p, r.ck, r.v); err != nil {
			t.Fatal(err)
		}
		if (i+1)%n == 0 || i == len(recs)-1 {
			for p := range parts {
				b.SetChangelogNext(p, next)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			b = s.NewBatch()
		}
	}
	b.Discard()
}

// load applies recs with a Loader, all partitions at once, and returns how
// many sorted runs it wrote. With onto, the partitions are not empty.
func load(t *testing.T, s *Store, recs []rec, parts int32, next int64, onto bool) (runs int) {
	t.Helper()
	l, err := s.NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if onto {
		for p := range parts {
			l.Onto(p)
		}
	}
	for _, r := range recs {
		if err := l.Add(r.p, r.ck, r.v); err != nil {
			t.Fatal(err)
		}
	}
	for _, lp := range l.parts {
		runs += len(lp.runs)
	}
	for p := range parts {
		keys, _, err := l.Finish(context.Background(), p, next)
		if err != nil {
			t.Fatal(err)
		}
		if scanned, _ := s.scanKeyCount(p); keys != scanned && keys >= 0 {
			t.Errorf("partition %d: Finish returned %d keys, scan finds %d", p, keys, scanned)
		}
	}
	return runs
}

func TestLoaderAndReplayBuildTheSameState(t *testing.T) {
	for _, memory := range []int{LoaderMemory, 256 << 10, 48 << 10} {
		t.Run(fmt.Sprintf("memory=%d", memory), func(t *testing.T) {
			defer func(m int) { LoaderMemory = m }(LoaderMemory)
			LoaderMemory = memory
			const parts = 4
			counts := map[int32]map[string]bool{}
			recs := changelog(rand.New(rand.NewPCG(1, uint64(memory))), parts-1, 30000, true, counts) // partition 3 stays empty
			want := map[string][]byte{}
			model(recs, want)

			loaded := openTest(t)
			runs := load(t, loaded, recs, parts, 30000, false)
			t.Logf("%d sorted runs", runs)
			if memory < 1<<20 && runs < 2*parts {
				t.Errorf("%d sorted runs: the test does not merge", runs)
			}
			checkState(t, loaded, want, parts, 30000)
			if ents, _ := os.ReadDir(filepath.Join(loaded.dir, loaderDir)); len(ents) != 0 {
				t.Errorf("%d scratch files left", len(ents))
			}

			replayed := openTest(t)
			replay(t, replayed, recs, parts, 1000, 30000)
			checkState(t, replayed, want, parts, 30000)

			// A tail replayed on top of a loaded state, in batches that
			// end inside transactions.
			more := changelog(rand.New(rand.NewPCG(2, uint64(memory))), parts, 5000, true, counts)
			model(more, want)
			replay(t, loaded, more, parts, 77, 35000)
			checkKnown(t, loaded, parts)
			checkState(t, loaded, want, parts, 35000)

			// And one loaded on top of a replayed state.
			load(t, replayed, more, parts, 35000, true)
			checkKnown(t, replayed, parts)
			checkState(t, replayed, want, parts, 35000)
		})
	}
}

// checkKnown fails unless the store knows the key count of every partition
// without counting.
func checkKnown(t *testing.T, s *Store, parts int32) {
	t.Helper()
	for p := range parts {
		if _, _, known, _ := s.storedKeyCount(p); !known {
			t.Errorf("partition %d: key count not known", p)
		}
	}
}

// A changelog without key counts (written before workers wrote them)
// leaves the count unknown after a replay, and KeyCount counts.
func TestReplayWithoutKeyCounts(t *testing.T) {
	const parts = 3
	counts := map[int32]map[string]bool{}
	recs := changelog(rand.New(rand.NewPCG(7, 8)), parts, 5000, true, counts)
	old := changelog(rand.New(rand.NewPCG(9, 10)), parts, 2000, false, counts)
	want := map[string][]byte{}
	model(recs, want)
	model(old, want)
	s := openTest(t)
	replay(t, s, recs, parts, 1000, 5000)
	checkKnown(t, s, parts)
	replay(t, s, old, parts, 1000, 7000)
	for p := range int32(parts) {
		if _, _, known, _ := s.storedKeyCount(p); known {
			t.Errorf("partition %d: key count known after counts without one", p)
		}
	}
	checkState(t, s, want, parts, 7000)
	checkKnown(t, s, parts) // KeyCount counted and stored them

	// Likewise loaded on top of a state.
	l := openTest(t)
	replay(t, l, recs, parts, 1000, 5000)
	load(t, l, old, parts, 7000, true)
	for p := range int32(parts) {
		if _, _, known, _ := l.storedKeyCount(p); known {
			t.Errorf("partition %d: key count known after counts loaded without one", p)
		}
	}
	checkState(t, l, want, parts, 7000)

	// A run without counts leaves the key count as it was.
	marks := []rec{{0, ChangelogKey(WatermarkKey(0, 1)), EncodeSourceMark(watermark.Mark{Watermark: 5, Sources: 4})}}
	model(marks, want)
	load(t, s, marks, parts, 7001, true)
	checkKnown(t, s, parts)
	checkState(t, s, want, parts, 7001)
}

func TestKeyCountFollowsTheCallersChanges(t *testing.T) {
	s := openTest(t)
	w1 := window.Window{Size: 2000, Start: 0}
	w2 := window.Window{Size: 2000, Start: 2000}
	b := s.NewBatch()
	for _, w := range []window.Window{w1, w2} {
		for _, id := range []string{"a", "b", "c"} {
			b.Set(CountKey(nil, 1, w, []byte(id)), EncodeUint64(1))
		}
	}
	b.AddKeys(1, 6)
	b.SetChangelogNext(1, 10)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b = s.NewBatch()
	b.DeleteWindow(1, w1)
	b.AddKeys(1, -3)
	b.SetChangelogNext(1, 11)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.KeyCount(1); n != 3 {
		t.Fatalf("key count %d, want 3", n)
	}
	// A partition without state counts nothing; dropping one resets it.
	if n, _ := s.KeyCount(2); n != 0 {
		t.Fatalf("key count of an empty partition: %d", n)
	}
	if err := s.DropPartition(1); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.KeyCount(1); n != 0 {
		t.Fatalf("key count after drop: %d", n)
	}
	if empty, _ := s.Empty(1); !empty {
		t.Fatal("dropped partition not empty")
	}
}

// A store written before it kept key counts is counted once, then kept.
func TestKeyCountOfAnOlderStore(t *testing.T) {
	s := openTest(t)
	w := window.Window{Size: 2000, Start: 0}
	for _, id := range []string{"a", "b"} {
		s.db.Set(CountKey(nil, 5, w, []byte(id)), EncodeUint64(1), pebble.NoSync)
	}
	s.db.Set(offsetKey(5), EncodeInt64(7), pebble.NoSync)
	// A batch cannot keep a count it does not know: it leaves it unknown.
	b := s.NewBatch()
	b.Set(CountKey(nil, 5, w, []byte("c")), EncodeUint64(1))
	b.AddKeys(5, 1)
	b.SetChangelogNext(5, 8)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(KeyCountKey(5)); ok {
		t.Fatal("a key count was stored for a partition it did not know")
	}
	if n, _ := s.KeyCount(5); n != 3 {
		t.Fatalf("key count %d, want 3", n)
	}
	if _, ok, _ := s.Get(KeyCountKey(5)); !ok {
		t.Fatal("the key count was not stored")
	}
	b = s.NewBatch()
	b.Delete(CountKey(nil, 5, w, []byte("a")))
	b.AddKeys(5, -1)
	b.SetChangelogNext(5, 9)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.KeyCount(5); n != 2 {
		t.Fatalf("key count %d, want 2", n)
	}
}

// BenchmarkLoader loads b.N counts of one partition, keys as the restore
// benchmark builds them (13 windows, UUID-like ids), and reports the cost
// per key of Add and Finish.
func BenchmarkLoader(b *testing.B) {
	s, err := Open(b.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var wins []window.Window
	for _, size := range []int64{60000, 300000, 600000} {
		for t := int64(1_790_000_400_000); t < 1_790_000_400_000+600000; t += size {
			wins = append(wins, window.Window{Size: size, Start: t})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, b.N)
	for i := range keys {
		id := fmt.Appendf(nil, "%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
		keys[i] = ChangelogKey(CountKey(nil, 0, wins[i%len(wins)], id))
	}
	l, err := s.NewLoader()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	for i, k := range keys {
		if err := l.Add(0, k, EncodeUint64(uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := l.Finish(context.Background(), 0, int64(b.N)); err != nil {
		b.Fatal(err)
	}
}
