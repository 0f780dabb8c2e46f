package worker

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/testkit"
)

// changelogState reads the changelog read_committed and returns, per
// partition, the state it describes (state key -> value) and its end
// offset.
func changelogState(t testing.TB, brokers []string) (map[int32]map[string][]byte, map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topics.Changelog)
	if err != nil {
		t.Fatal(err)
	}
	state, endOf := map[int32]map[string][]byte{}, map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		state[o.Partition], endOf[o.Partition] = map[string][]byte{}, o.Offset
		if o.Offset > 0 {
			offsets[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: offsets})
	next := map[int32]int64{}
	for left := len(offsets); left > 0; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end := endOf[r.Partition]
			if r.Offset >= end || next[r.Partition] >= end {
				return
			}
			next[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				k := string(store.StateKey(r.Partition, r.Key))
				if r.Value == nil {
					delete(state[r.Partition], k)
				} else {
					state[r.Partition][k] = r.Value
				}
			}
			if next[r.Partition] >= end {
				left--
			}
		})
	}
	return state, endOf
}

// checkRestored checks that st holds exactly the state the changelog
// describes, at its end offsets, and that the key count of each partition
// and of the task are right.
func checkRestored(t *testing.T, st *store.Store, tasks map[int32]*owned, want map[int32]map[string][]byte, ends map[int32]int64) {
	t.Helper()
	for p, kv := range want {
		got := map[string][]byte{}
		lo := store.StateKey(p, nil)
		hi := store.StateKey(p+1, nil)
		if err := st.Scan(lo, hi, func(k, v []byte) error {
			got[string(k)] = append([]byte(nil), v...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var counts int64
		for k, v := range kv {
			if !bytes.Equal(got[k], v) {
				t.Errorf("partition %d, key %q: %x, want %x", p, k, got[k], v)
			}
			if k[4] == 'c' {
				counts++
			}
			delete(got, k)
		}
		for k := range got {
			if k[4] != 'o' && k[4] != 'k' {
				t.Errorf("partition %d: unexpected key %q", p, k)
			}
		}
		if v, ok := kv[string(store.KeyCountKey(p))]; !ok && counts > 0 {
			t.Errorf("partition %d: the changelog carries no key count", p)
		} else if n, _ := store.DecodeInt64(v); ok && n != counts {
			t.Errorf("partition %d: the changelog's key count is %d, its counts %d", p, n, counts)
		}
		if next, _ := st.ChangelogNext(p); next != ends[p] {
			t.Errorf("partition %d: changelog offset %d, want %d", p, next, ends[p])
		}
		if n, _ := st.KeyCount(p); n != counts {
			t.Errorf("partition %d: key count %d, want %d", p, n, counts)
		}
		if tk := tasks[p]; tk == nil || tk.core.Keys() != counts {
			t.Errorf("partition %d: task %+v, want %d keys", p, tk, counts)
		}
	}
}

// restoreInto restores every partition into the store in dir with a worker
// that is not started, as a worker joining the group would.
func restoreInto(t testing.TB, brokers []string, p window.Policy, dir string, parts int32) (*store.Store, map[int32]*owned) {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, "restorer", dir, p
	cfg.StandbyReplicas, cfg.Logger, cfg.Registerer = 0, testkit.Logger(), prometheus.NewRegistry()
	w, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.sess.Close()
		w.standbys.cl.Close()
		w.adm.Close()
		w.store.Close()
	})
	var all []int32
	for i := range parts {
		all = append(all, i)
	}
	tasks, err := w.restore(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	return w.store, tasks
}

// copyDir copies a stopped worker's state directory.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// A restore builds exactly the state the changelog describes, key count
// included: into an empty store (built in bulk, in memory or through
// sorted runs on disk), into a store that is behind (the tail replayed),
// and into one that is up to date (nothing replayed). The changelog holds
// counts rewritten many times, tombstones of expired windows, watermarks
// and idempotency records.
func TestRestoreBuildsTheChangelogState(t *testing.T) {
	brokers := testkit.StartBroker(t)
	sizes, err := window.ParseSizes([]string{"1s", "2s"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := window.NewPolicy(sizes, 200*time.Millisecond, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	const parts = 3
	testkit.EnsureTopics(t, brokers, p, parts)
	dir := t.TempDir()
	prod := testkit.NewProducer(t, brokers)
	rng := rand.New(rand.NewPCG(3, 4))
	send := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			var recs []*kgo.Record
			for range 40 {
				r := testkit.Like(fmt.Sprintf("video-%d", rng.IntN(150)), time.Now())
				if rng.IntN(4) == 0 {
					r.Headers = []kgo.RecordHeader{{Key: record.IdempotencyKeyHeader, Value: []byte("key-" + strconv.Itoa(rng.IntN(5)))},
						{Key: record.SeqHeader, Value: []byte(strconv.Itoa(rng.IntN(10)))}}
				}
				recs = append(recs, r)
			}
			prod.Send(recs...)
		}
	}
	// Two runs of a worker, each counting likes for a while; the store as
	// the first run left it is the one behind.
	var behind string
	for run := range 2 {
		stop, regs := runWorkers(t, brokers, p, dir, 1)
		send(2 * time.Second)
		for deadline := time.Now().Add(10 * time.Second); sum(regs, "counter_worker_likes_counted_total") < 100; {
			if time.Now().After(deadline) {
				t.Fatalf("run %d counted %v likes", run, sum(regs, "counter_worker_likes_counted_total"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)
		stop()
		if run == 0 {
			behind = filepath.Join(t.TempDir(), "behind")
			copyDir(t, filepath.Join(dir, "w0"), behind)
		}
	}
	want, ends := changelogState(t, brokers)
	tombstones := 0
	for _, r := range testkit.ReadAll(t, brokers, topics.Changelog) {
		if r.Value == nil {
			tombstones++
		}
	}
	t.Logf("changelog: %v records, %d tombstones", ends, tombstones)
	if tombstones == 0 {
		t.Fatal("no window expired: the test checks nothing about deletions")
	}
	if st, err := store.Open(behind, testkit.Logger()); err != nil {
		t.Fatal(err)
	} else {
		next, _ := st.ChangelogNext(0)
		st.Close()
		if ends[0]-next < 50 {
			t.Fatalf("the store behind is %d records behind", ends[0]-next)
		}
	}

	t.Run("empty", func(t *testing.T) {
		st, tasks := restoreInto(t, brokers, p, filepath.Join(t.TempDir(), "empty"), parts)
		checkRestored(t, st, tasks, want, ends)
	})
	t.Run("empty-spilling", func(t *testing.T) {
		defer func(m int) { store.LoaderMemory = m }(store.LoaderMemory)
		store.LoaderMemory = 16 << 10
		st, tasks := restoreInto(t, brokers, p, filepath.Join(t.TempDir(), "spilling"), parts)
		checkRestored(t, st, tasks, want, ends)
	})
	behindToo := filepath.Join(t.TempDir(), "behind-bulk")
	copyDir(t, behind, behindToo)
	t.Run("behind", func(t *testing.T) {
		st, tasks := restoreInto(t, brokers, p, behind, parts)
		checkRestored(t, st, tasks, want, ends)
	})
	t.Run("behind-bulk", func(t *testing.T) {
		defer func(n int64) { bulkTail = n }(bulkTail)
		bulkTail = 1
		st, tasks := restoreInto(t, brokers, p, behindToo, parts)
		checkRestored(t, st, tasks, want, ends)
	})
	t.Run("up-to-date", func(t *testing.T) {
		st, tasks := restoreInto(t, brokers, p, filepath.Join(dir, "w0"), parts)
		checkRestored(t, st, tasks, want, ends)
	})
}

// BenchmarkRestore restores a changelog of b.N keys, as the restore
// scenario of counter-tools bench builds it (13 windows of 1m, 5m and 10m,
// 6 partitions), into an empty store. The broker runs in the process, so
// the CPU figures include its share. For a profile:
//
//	go test ./internal/worker -run '^$' -bench Restore -benchtime 1000000x -cpuprofile cpu.out
func BenchmarkRestore(b *testing.B) { benchmarkRestore(b, false) }

// BenchmarkRestoreTail is BenchmarkRestore into a store that is not empty
// (it holds a watermark of each partition at changelog offset 0): the
// whole changelog is replayed as a tail, through batches.
func BenchmarkRestoreTail(b *testing.B) { benchmarkRestore(b, true) }

func benchmarkRestore(b *testing.B, tail bool) {
	brokers := testkit.StartBroker(b)
	p := testkit.Policy(b, 5*time.Second, "1m", "5m", "10m")
	const parts = 6
	testkit.EnsureTopics(b, brokers, p, parts)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topics.Changelog),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(200000))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var wins []window.Window
	start := window.Of(time.Now().Add(time.Hour).UnixMilli(), p.Largest()).Start
	for _, s := range p.Sizes {
		for t := start; t < start+p.Largest(); t += s.Millis {
			wins = append(wins, window.Window{Size: s.Millis, Start: t})
		}
	}
	var failed atomic.Int64
	rng := rand.New(rand.NewPCG(5, 6))
	var id []byte
	var part int32
	for j := range b.N {
		if j%len(wins) == 0 {
			id = fmt.Appendf(nil, "%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff,
				rng.Uint32()&0x3fff|0x8000, rng.Uint64()&0xffffffffffff)
			part = partition.ForKey(id, parts)
		}
		key := store.ChangelogKey(store.CountKey(nil, part, wins[j%len(wins)], id))
		cl.Produce(context.Background(), &kgo.Record{Partition: part, Key: key, Value: store.EncodeUint64(uint64(1 + j%100))},
			func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			})
	}
	if err := cl.Flush(context.Background()); err != nil || failed.Load() > 0 {
		b.Fatalf("building the changelog: %v, %d failed", err, failed.Load())
	}
	dir := filepath.Join(b.TempDir(), "state")
	if tail {
		st, err := store.Open(dir, testkit.Logger())
		if err != nil {
			b.Fatal(err)
		}
		bt := st.NewBatch()
		for p := range int32(parts) {
			bt.Set(store.WatermarkKey(p, 0), store.EncodeSourceMark(watermark.Mark{Watermark: 1, Sources: 1}))
			bt.SetChangelogNext(p, 0)
		}
		if err := bt.Commit(); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak, peakLive := uint64(0), uint64(0)
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			metrics.Read(live)
			peakLive = max(peakLive, live[0].Value.Uint64())
		}
	}()
	cpu0 := cpuTime()
	b.ResetTimer()
	began := time.Now()
	st, tasks := restoreInto(b, brokers, p, dir, parts)
	took := time.Since(began)
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N)*1e6, "cpu-µs/key")
	close(done)
	b.ReportMetric(float64(peak-before.HeapInuse)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakLive-before.HeapAlloc)/(1<<20), "peak-live-MiB")
	var keys int64
	for _, tk := range tasks {
		keys += tk.core.Keys()
	}
	if keys != int64(b.N) {
		b.Fatalf("restored %d keys, want %d", keys, b.N)
	}
	_ = st
	b.ReportMetric(float64(b.N)/took.Seconds(), "keys/s")
}
