package worker

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/testkit"
)

// abortedBytes is how much changelog each aborted transaction of the
// restore-defence tests writes per partition: more than a restore fetch
// (restoreFetchBytes), so that fetches end in the middle of aborted data.
const abortedBytes = restoreFetchBytes + restoreFetchBytes/2

// testWindow is the window of the counts the restore-defence tests write.
var testWindow = window.Window{Size: 60000, Start: 1_800_000_000_000}

// changelogModel is the state the committed transactions of a changelog
// describe, as changelogState returns it: per partition, state key ->
// value, key count record included.
type changelogModel map[int32]map[string][]byte

// changelogWriter writes transactions of state records into the changelog
// as a worker does, and keeps the model of the committed ones.
type changelogWriter struct {
	t     testing.TB
	cl    *kgo.Client
	parts int32
	win   window.Window
	rng   *rand.Rand
	model changelogModel
}

func newChangelogWriter(t testing.TB, brokers []string, parts int32) *changelogWriter {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.TransactionalID("changelog-writer"),
		kgo.DefaultProduceTopic(topics.Changelog),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(100000),
		// Small batches: a fetch limit then cuts a partition's
		// response after some of its batches, wherever it starts.
		kgo.ProducerBatchMaxBytes(128<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	cw := &changelogWriter{t: t, cl: cl, parts: parts, model: changelogModel{}, win: testWindow,
		rng: rand.New(rand.NewPCG(9, 10))}
	for p := range parts {
		cw.model[p] = map[string][]byte{}
	}
	return cw
}

// countKey returns the changelog key of video id's count in partition p.
func (cw *changelogWriter) countKey(p int32, id string) []byte {
	return store.ChangelogKey(store.CountKey(nil, p, cw.win, []byte(id)))
}

// txn writes one transaction: in every partition, sets records (a nil value
// is a tombstone) followed by the partition's key count, then commits it
// or aborts it. A committed transaction updates the model; the key count
// of an aborted one is made up.
func (cw *changelogWriter) txn(commit bool, sets func(p int32) []*kgo.Record) {
	t := cw.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cw.cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := range cw.parts {
		recs := sets(p)
		model := map[string][]byte{}
		for k, v := range cw.model[p] {
			model[k] = v
		}
		for _, r := range recs {
			r.Partition = p
			k := string(store.StateKey(p, r.Key))
			if r.Value == nil {
				delete(model, k)
			} else {
				model[k] = r.Value
			}
		}
		var counts int64
		for k := range model {
			if k[4] == 'c' {
				counts++
			}
		}
		if !commit {
			counts += 1000
		}
		kc := &kgo.Record{Partition: p, Key: store.ChangelogKey(store.KeyCountKey(p)), Value: store.EncodeInt64(counts)}
		model[string(store.KeyCountKey(p))] = kc.Value
		if commit {
			cw.model[p] = model
		}
		for _, r := range append(recs, kc) {
			cw.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("producing to the changelog: %v", err)
				}
			})
		}
	}
	if err := cw.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := cw.cl.EndTransaction(ctx, end); err != nil {
		t.Fatal(err)
	}
}

// committed writes a committed transaction of round r: every partition's
// videos v0..v299 get new counts, three videos of the round are added, and
// from the second round on some earlier videos are deleted (tombstones).
func (cw *changelogWriter) committed(r int) {
	cw.txn(true, func(p int32) []*kgo.Record {
		var recs []*kgo.Record
		for j := range 300 {
			recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("v%d", j)), Value: store.EncodeUint64(uint64(1000*r + j + 1))})
		}
		for j := range 3 {
			recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("c%d-%d", r, j)), Value: store.EncodeUint64(uint64(r + 1))})
		}
		if r > 0 {
			for j := r; j < 300; j += 7 {
				recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("v%d", j))})
			}
			recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("c%d-0", r-1))})
		}
		return recs
	})
}

// aborted writes an aborted transaction of round r, of about size bytes per
// partition: it overwrites the committed counts, deletes some committed
// videos and adds large counts of videos of its own.
func (cw *changelogWriter) aborted(r, size int) {
	cw.txn(false, func(p int32) []*kgo.Record {
		var recs []*kgo.Record
		for j := range 300 {
			if j%5 == 0 {
				recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("v%d", j))})
			} else {
				recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("v%d", j)), Value: store.EncodeUint64(999_999)})
			}
		}
		recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("c%d-1", r))})
		const big = 48 << 10
		for j := range size / big {
			v := make([]byte, big) // random: compression must not shrink it
			for i := 0; i < len(v); i += 8 {
				binary.LittleEndian.PutUint64(v[i:], cw.rng.Uint64())
			}
			recs = append(recs, &kgo.Record{Key: cw.countKey(p, fmt.Sprintf("a%d-%d", r, j)), Value: v})
		}
		return recs
	})
}

// checkModel checks that the state the committed transactions describe
// (cw.model) is what the changelog holds for a read_committed reader: a
// reader cut short by the broker's fetch limits would see aborted data.
func checkModel(t *testing.T, want changelogModel, brokers []string) map[int32]int64 {
	t.Helper()
	got, ends := changelogState(t, brokers)
	for p, kv := range want {
		for k, v := range kv {
			if string(got[p][k]) != string(v) {
				t.Errorf("read_committed changelog reader: partition %d key %q = %x, committed %x (the broker leaks aborted data)", p, k, got[p][k], v)
				break
			}
		}
	}
	return ends
}

// restoreWorker returns a worker that is not started, on the store in dir;
// its store is closed when the test ends.
func restoreWorker(t testing.TB, brokers []string, dir string) *Worker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, "restorer", dir, testkit.Policy(t, time.Second, "1m")
	cfg.StandbyReplicas, cfg.Logger, cfg.Registerer = 0, testkit.Logger(), prometheus.NewRegistry()
	w, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.sess.Close()
		w.standbys.cl.Close()
		w.adm.Close()
		w.store.Close()
	})
	return w
}

// restoreWithin restores every partition with w, failing the test if that
// takes longer than d (a restore waiting for records that never come).
func restoreWithin(t testing.TB, w *Worker, parts int32, d time.Duration) map[int32]*owned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var all []int32
	for p := range parts {
		all = append(all, p)
	}
	tasks, err := w.restore(ctx, all)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	return tasks
}

// tailUntil makes w's standbys tail every partition from the offsets its
// store reflects until the store reflects the changelog up to ends,
// failing the test after d.
func tailUntil(t testing.TB, w *Worker, ends map[int32]int64, d time.Duration) {
	t.Helper()
	s := w.standbys
	s.mu.Lock()
	all := map[int32]bool{}
	for p := range ends {
		all[p] = true
	}
	s.tailLocked(sortedKeys(all))
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		behind := map[int32]int64{}
		for p, end := range ends {
			if next, err := w.store.ChangelogNext(p); err != nil {
				t.Fatal(err)
			} else if next < end {
				behind[p] = next
			}
		}
		if len(behind) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("standby still behind the changelog ends %v: %v", ends, behind)
		}
		s.poll(ctx, 100*time.Millisecond)
		s.catchUp(ctx)
	}
}

// Restore defence: whatever the restore path, a changelog whose committed
// transactions are interleaved with aborted ones larger than a restore
// fetch, over several partitions, restores to the state of the committed
// transactions only: counts the aborted ones overwrote or deleted keep their
// committed value, their own counts are absent, committed tombstones hold.
// The changelog ends in an aborted transaction.
func TestRestoreIgnoresAbortedTransactions(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, time.Second, "1m")
	const parts = 3
	testkit.EnsureTopics(t, brokers, p, parts)
	cw := newChangelogWriter(t, brokers, parts)
	cw.committed(0)
	cw.aborted(0, abortedBytes)
	cw.committed(1)
	// A store that is behind: it holds the first two transactions.
	seed := t.TempDir()
	t.Run("seed", func(t *testing.T) { // its worker is closed at the end of the subtest
		w := restoreWorker(t, brokers, filepath.Join(seed, "behind"))
		restoreWithin(t, w, parts, 30*time.Second)
	})
	cw.aborted(1, abortedBytes)
	cw.committed(2)
	cw.aborted(2, abortedBytes)
	want := cw.model
	ends := checkModel(t, want, brokers)

	dirs := map[string]string{}
	for _, name := range []string{"behind", "long-tail", "standby"} {
		dirs[name] = filepath.Join(t.TempDir(), name)
		if err := os.CopyFS(dirs[name], os.DirFS(filepath.Join(seed, "behind"))); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := store.Open(dirs["behind"], testkit.Logger()); err != nil {
		t.Fatal(err)
	} else {
		next, _ := st.ChangelogNext(0)
		st.Close()
		if next == 0 || next >= ends[0] {
			t.Fatalf("the store behind reflects offset %d of %d", next, ends[0])
		}
	}

	t.Run("empty", func(t *testing.T) { // bulk, the store holds nothing
		w := restoreWorker(t, brokers, filepath.Join(t.TempDir(), "empty"))
		checkRestored(t, w.store, restoreWithin(t, w, parts, 30*time.Second), want, ends)
	})
	t.Run("behind", func(t *testing.T) { // the tail replayed through batches
		w := restoreWorker(t, brokers, dirs["behind"])
		checkRestored(t, w.store, restoreWithin(t, w, parts, 30*time.Second), want, ends)
	})
	t.Run("long-tail", func(t *testing.T) { // a tail of bulkTail records or more, in bulk
		defer func(n int64) { bulkTail = n }(bulkTail)
		bulkTail = 1
		w := restoreWorker(t, brokers, dirs["long-tail"])
		checkRestored(t, w.store, restoreWithin(t, w, parts, 30*time.Second), want, ends)
	})
	t.Run("standby", func(t *testing.T) { // a standby tailing the changelog
		w := restoreWorker(t, brokers, dirs["standby"])
		tailUntil(t, w, ends, 30*time.Second)
		tasks := map[int32]*owned{}
		for p := range int32(parts) {
			tk, err := w.loadTask(p, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			tasks[p] = tk
		}
		checkRestored(t, w.store, tasks, want, ends)
	})
}

// startDataBroker starts an embedded broker (kfake) keeping its data in dir.
func startDataBroker(t testing.TB, dir string) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.BrokerConfigs(map[string]string{"transaction.max.timeout.ms": "900000"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// crashedBroker builds a changelog whose partitions end in a transaction
// that was open when the broker stopped uncleanly: it copies the data of a
// running broker while the transaction is open, as a kill -9 would leave
// it, and starts a broker on the copy. That broker (kfake) ends the open
// transaction as aborted without writing its abort marker, so nothing is
// ever delivered at the last offsets of the partitions. It returns the new
// broker's addresses and the state of the committed transactions.
func crashedBroker(t testing.TB, parts int32) ([]string, changelogModel) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "broker")
	_, brokers := startDataBroker(t, dir)
	testkit.EnsureTopics(t, brokers, testkit.Policy(t, time.Second, "1m"), parts)
	cw := newChangelogWriter(t, brokers, parts)
	// An aborted transaction smaller than a restore fetch: this test does
	// not depend on the broker's aborted-transaction lists when a fetch
	// limit cuts a partition.
	cw.committed(0)
	cw.aborted(0, 100<<10)
	cw.committed(1)
	if err := cw.cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := range parts {
		for j := range 20 {
			r := &kgo.Record{Partition: p, Key: cw.countKey(p, fmt.Sprintf("v%d", j)), Value: store.EncodeUint64(777)}
			if err := cw.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	_, brokers = startDataBroker(t, crashed)
	return brokers, cw.model
}

// closedEnds returns the end offsets of the changelog's partitions, checking
// that no transaction is open in them (the last stable offset is the end).
func closedEnds(t testing.TB, brokers []string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stable, err := adm.ListCommittedOffsets(ctx, topics.Changelog)
	if err != nil {
		t.Fatal(err)
	}
	hw, err := adm.ListEndOffsets(ctx, topics.Changelog)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	stable.Each(func(o kadm.ListedOffset) {
		if h, _ := hw.Lookup(o.Topic, o.Partition); o.Err != nil || h.Offset != o.Offset {
			t.Fatalf("partition %d: last stable offset %d, high watermark %d (%v)", o.Partition, o.Offset, h.Offset, o.Err)
		}
		ends[o.Partition] = o.Offset
	})
	return ends
}

// A restore finishes when its position reaches the changelog's end, not
// when a record at the end's last offset arrives: here the last offsets
// of every partition belong to a transaction the broker aborted at an
// unclean restart without an abort marker, which a read_committed reader
// skips without a word.
func TestRestoreFinishesOnAnInvisibleTail(t *testing.T) {
	const parts = 3
	brokers, want := crashedBroker(t, parts)
	ends := closedEnds(t, brokers)
	t.Run("empty", func(t *testing.T) {
		w := restoreWorker(t, brokers, filepath.Join(t.TempDir(), "empty"))
		checkRestored(t, w.store, restoreWithin(t, w, parts, 20*time.Second), want, ends)
	})
	t.Run("behind", func(t *testing.T) {
		w := restoreWorker(t, brokers, filepath.Join(t.TempDir(), "behind"))
		// A store that is not empty, at the changelog's start: the
		// whole changelog is a tail, replayed through batches.
		cw := changelogWriter{win: testWindow}
		b := w.store.NewBatch()
		for p := range int32(parts) {
			if err := b.Set(store.StateKey(p, cw.countKey(p, "v0")), store.EncodeUint64(1)); err != nil {
				t.Fatal(err)
			}
			if err := b.SetChangelogNext(p, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		checkRestored(t, w.store, restoreWithin(t, w, parts, 20*time.Second), want, ends)
	})
	t.Run("standby", func(t *testing.T) {
		w := restoreWorker(t, brokers, filepath.Join(t.TempDir(), "standby"))
		tailUntil(t, w, ends, 20*time.Second)
		tasks := map[int32]*owned{}
		for p := range int32(parts) {
			tk, err := w.loadTask(p, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			tasks[p] = tk
		}
		checkRestored(t, w.store, tasks, want, ends)
	})
}

// An idle source whose last offsets are invisible (a transaction aborted by
// an unclean broker restart, without its marker) is caught up when its
// position reaches the end: the windows of the likes before it close by
// wall clock instead of waiting for a record that never comes.
func TestSourceCaughtUpPastAnInvisibleTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "broker")
	_, brokers := startDataBroker(t, dir)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ts := time.Now()
	want := map[testkit.Key]uint64{}
	for src := range int32(2) {
		r := testkit.Like("stuck", ts)
		r.Partition = src
		if err := plain.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		testkit.Expect(want, p, "stuck", ts)
	}
	txn, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("ingest-crashed"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r := testkit.Like("never", ts)
	r.Partition = 1
	if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	_, brokers = startDataBroker(t, crashed)
	out := testkit.ReadOutputs(t, brokers, p)
	runWorkers(t, brokers, p, t.TempDir(), 1)
	winEnd := time.UnixMilli(window.Of(ts.UnixMilli(), 2000).End())
	out.WaitFinals(t, want, time.Until(winEnd)+testGrace+10*time.Second)
}
