package worker

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/testkit"
)

const testGrace = time.Second

// runWorkers starts n workers; the returned stop function stops them and
// waits. Each worker's metrics are returned for assertions.
func runWorkers(t *testing.T, brokers []string, p window.Policy, dir string, n int) (stop func(), metrics []*prometheus.Registry) {
	t.Helper()
	return runWorkersWith(t, brokers, p, dir, n, nil)
}

// runWorkersWith is runWorkers with a function that adjusts each worker's
// configuration.
func runWorkersWith(t *testing.T, brokers []string, p window.Policy, dir string, n int, adjust func(*Config)) (stop func(), metrics []*prometheus.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		reg := prometheus.NewRegistry()
		metrics = append(metrics, reg)
		cfg := DefaultConfig()
		cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, fmt.Sprintf("w%d", i), filepath.Join(dir, fmt.Sprintf("w%d", i)), p
		cfg.StandbyReplicas, cfg.SessionTimeout, cfg.Logger, cfg.Registerer = 0, 2*time.Second, testkit.Logger().With("w", i), reg
		if adjust != nil {
			adjust(&cfg)
		}
		w, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop, metrics
}

func sum(regs []*prometheus.Registry, name string, labels ...string) float64 {
	var total float64
	for _, r := range regs {
		mfs, _ := r.Gather()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				match := true
				for i := 0; i+1 < len(labels); i += 2 {
					found := false
					for _, l := range m.GetLabel() {
						if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
							found = true
						}
					}
					match = match && found
				}
				if match {
					total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return total
}

// Acceptance 2: unkeyed raw-id likes from a plain producer over several
// windows; every (video, window) gets exactly one final equal to the number
// produced.
func TestLiveCountsExactlyOnce(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s", "4s")
	testkit.EnsureTopics(t, brokers, p, 4)
	out := testkit.ReadOutputs(t, brokers, p)
	runWorkers(t, brokers, p, t.TempDir(), 2)

	videos := []string{"v1", "v2", "v3", "93f98662-8907-4f43-bb4c-280501481046", "x.y:z_1-2"}
	want, n := sendLive(t, brokers, p, 20, func(n, i int) string { return videos[(n*7+i)%len(videos)] })
	out.WaitFinals(t, want, 4*time.Second+testGrace+10*time.Second)
	t.Logf("%d likes, %d finals", n, len(want))
	if len(out.Updates()) == 0 {
		t.Error("no final:false updates were emitted while windows were open")
	}
}

// sendLive produces likes stamped now for 5 s, perBatch every 50 ms, the
// n-th like (i-th of its batch) for video(n, i), and returns the finals
// expected and the number of likes.
func sendLive(t *testing.T, brokers []string, p window.Policy, perBatch int, video func(n, i int) string) (map[testkit.Key]uint64, int) {
	prod := testkit.NewProducer(t, brokers)
	want := map[testkit.Key]uint64{}
	end := time.Now().Add(5 * time.Second)
	n := 0
	for time.Now().Before(end) {
		var batch []*kgo.Record
		for i := 0; i < perBatch; i++ {
			v := video(n, i)
			ts := time.Now()
			batch = append(batch, testkit.Like(v, ts))
			testkit.Expect(want, p, v, ts)
			n++
		}
		prod.Send(batch...)
		time.Sleep(50 * time.Millisecond)
	}
	return want, n
}

// The window cache only saves store reads: with a cache too small for the
// windows (evictions mid-window) or none at all, every final is still exact;
// so with counts that reach the store only at checkpoints (read from the
// pending ones meanwhile).
func TestCountsExactWhateverTheCacheSize(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cacheKeys  int
		checkpoint time.Duration
	}{{"tiny", 12, 0}, {"none", 0, 0}, {"none, store written at stop only", 0, time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := testkit.StartBroker(t)
			p := testkit.Policy(t, testGrace, "2s", "4s")
			testkit.EnsureTopics(t, brokers, p, 2)
			out := testkit.ReadOutputs(t, brokers, p)
			_, regs := runWorkersWith(t, brokers, p, t.TempDir(), 1, func(c *Config) {
				c.CacheKeys, c.CheckpointInterval = tc.cacheKeys, tc.checkpoint
			})
			// Few likes per transaction: windows start small (cached) and
			// grow past the budget (evicted).
			want, _ := sendLive(t, brokers, p, 3, func(n, _ int) string { return fmt.Sprintf("video-%d", (n*7)%23) })
			out.WaitFinals(t, want, 4*time.Second+testGrace+10*time.Second)
			// Evictions depend on how many likes each transaction gets:
			// cache_test.go checks them deterministically.
			t.Logf("%v cache evictions", sum(regs, "counter_worker_cache_evictions_total"))
		})
	}
}

// Acceptance 3: one event, then silence: its window's final arrives within
// grace + 1 s of the window's end.
func TestIdlePartitionClosesByWallClock(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 3)
	out := testkit.ReadOutputs(t, brokers, p)
	runWorkers(t, brokers, p, t.TempDir(), 1)
	// Let the worker join and mark its sources idle first.
	time.Sleep(3 * time.Second)

	ts := time.Now()
	testkit.NewProducer(t, brokers).Send(testkit.Like("lonely", ts))
	want := map[testkit.Key]uint64{}
	testkit.Expect(want, p, "lonely", ts)
	winEnd := time.UnixMilli(window.Of(ts.UnixMilli(), 2000).End())
	out.WaitFinals(t, want, time.Until(winEnd)+testGrace+5*time.Second)
	for k := range want {
		delay := out.FinalSeen(k).Sub(winEnd)
		t.Logf("final arrived %v after the window's end (grace %v)", delay, testGrace)
		if delay > testGrace+time.Second {
			t.Fatalf("final arrived %v after the window's end, more than grace + 1s", delay)
		}
	}
}

// Acceptance 4: a backlog produced while no worker runs, with timestamps
// spread over 3 windows that have all ended: exact finals, nothing late.
func TestBacklogUsesEventTime(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 4)
	prod := testkit.NewProducer(t, brokers)
	want := map[testkit.Key]uint64{}
	base := window.Of(time.Now().Add(-10*time.Second).UnixMilli(), 2000).Start
	var recs []*kgo.Record
	for i := 0; i < 300; i++ {
		ts := time.UnixMilli(base + int64(i*20)) // 6 s: three 2 s windows
		v := fmt.Sprintf("video-%d", i%7)
		// Round-robin partitions so that every partition holds all three
		// windows: a worker reading one partition ahead of another must
		// not make the other's records late.
		r := testkit.Like(v, ts)
		r.Partition = int32(i % 4)
		recs = append(recs, r)
		testkit.Expect(want, p, v, ts)
	}
	prod.Send(recs...)

	out := testkit.ReadOutputs(t, brokers, p)
	_, regs := runWorkers(t, brokers, p, t.TempDir(), 2)
	out.WaitFinals(t, want, 20*time.Second)
	if late := sum(regs, "counter_worker_late_total"); late != 0 {
		t.Fatalf("%v likes counted late in a backlog", late)
	}
	// The re-keying stage combined likes of one video and window, and
	// counted those of its own partitions itself.
	fwd, here := sum(regs, "counter_worker_rekeyed_records_total"), sum(regs, "counter_worker_likes_counted_here_total")
	if forwarded := 300 - here; here > 300 || forwarded > 0 && fwd >= forwarded {
		t.Errorf("%v records forwarded and %v likes counted where re-keyed, for 300 likes of 7 videos", fwd, here)
	}
	t.Logf("%v records forwarded, %v likes counted where re-keyed", fwd, here)
}

// Acceptance 6: poison records go to the dead-letter topic with a reason;
// the valid records around them are counted.
func TestPoisonRecordsGoToDeadLetter(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 2)
	out := testkit.ReadOutputs(t, brokers, p)
	_, regs := runWorkers(t, brokers, p, t.TempDir(), 1)
	prod := testkit.NewProducer(t, brokers)
	want := map[testkit.Key]uint64{}
	poison := map[string]string{
		"":                          "empty",
		"\xff\xfe":                  "invalid_utf8",
		string(make([]byte, 200)):   "too_long", // NUL bytes are valid UTF-8
		strings.Repeat("\xff", 300): "invalid_utf8",
		fmt.Sprintf("%0200d", 7):    "too_long",
		"bad id/with spaces":        "bad_chars",
		"<script>":                  "bad_chars",
	}
	ts := time.Now()
	var recs []*kgo.Record
	for bad := range poison {
		recs = append(recs, testkit.Like("good-1", ts), &kgo.Record{Topic: topics.Ingestion, Value: []byte(bad), Timestamp: ts}, testkit.Like("good-2", ts))
		testkit.Expect(want, p, "good-1", ts)
		testkit.Expect(want, p, "good-2", ts)
	}
	// A producer clock far ahead: dead-lettered as "future".
	recs = append(recs, testkit.Like("future-video", ts.Add(time.Hour)))
	for _, r := range recs {
		r.Partition = 0
	}
	// Records of the partitioned topic from a foreign producer: a bad like
	// count is dead-lettered, a good one counts that many likes.
	combined := func(id, count string) *kgo.Record {
		return &kgo.Record{Topic: topics.Partitioned, Partition: partition.ForKey([]byte(id), 2), Key: []byte(id), Value: []byte(id),
			Timestamp: ts, Headers: []kgo.RecordHeader{{Key: record.LikesHeader, Value: []byte(count)}}}
	}
	recs = append(recs, combined("combined-5", "5"), combined("combined-bad", "0"), combined("combined-worse", "x"))
	for range 5 {
		testkit.Expect(want, p, "combined-5", ts)
	}
	prod.Send(recs...)
	out.WaitFinals(t, want, 15*time.Second)

	dl := testkit.ReadAll(t, brokers, topics.DeadLetter)
	got := map[string]string{}
	for _, r := range dl {
		for _, h := range r.Headers {
			if h.Key == record.ReasonHeader {
				got[string(r.Value)] = string(h.Value)
			}
		}
	}
	for bad, reason := range poison {
		if got[bad] != reason {
			t.Errorf("poison %q: dead-letter reason %q, want %q", bad, got[bad], reason)
		}
	}
	if got["future-video"] != "future" {
		t.Errorf("future record: reason %q", got["future-video"])
	}
	for _, id := range []string{"combined-bad", "combined-worse"} {
		if got[id] != record.ReasonBadCount {
			t.Errorf("record with a bad like count: reason %q", got[id])
		}
	}
	if n := sum(regs, "counter_worker_dead_lettered_total"); n != float64(len(poison)+3) {
		t.Errorf("dead-letter metric = %v, want %d", n, len(poison)+3)
	}
}

// A like that arrives after its window closed is not counted into it: it is
// dead-lettered as late, and the window's final does not change.
func TestLateRecordsAreDeadLettered(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 1)
	out := testkit.ReadOutputs(t, brokers, p)
	_, regs := runWorkers(t, brokers, p, t.TempDir(), 1)
	prod := testkit.NewProducer(t, brokers)
	ts := time.Now()
	prod.Send(testkit.Like("v", ts))
	want := map[testkit.Key]uint64{}
	testkit.Expect(want, p, "v", ts)
	out.WaitFinals(t, want, 10*time.Second)
	prod.Send(testkit.Like("v", ts)) // same window, now closed
	deadline := time.Now().Add(10 * time.Second)
	for sum(regs, "counter_worker_late_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("late like not counted as late")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for found := false; !found; {
		for _, r := range testkit.ReadAll(t, brokers, topics.DeadLetter) {
			for _, h := range r.Headers {
				found = found || h.Key == record.ReasonHeader && string(h.Value) == record.ReasonLate
			}
		}
		if !found && time.Now().After(deadline) {
			t.Fatal("late like not in the dead-letter topic")
		}
		time.Sleep(50 * time.Millisecond)
	}
	testkit.CheckFinals(t, want, out.Finals())
}

// State of closed windows is deleted after the retention: every count key
// written to the changelog is eventually followed by its tombstone.
func TestRetentionDeletesClosedWindows(t *testing.T) {
	brokers := testkit.StartBroker(t)
	sizes, _ := window.ParseSizes([]string{"2s"})
	p, err := window.NewPolicy(sizes, 500*time.Millisecond, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	testkit.EnsureTopics(t, brokers, p, 2)
	out := testkit.ReadOutputs(t, brokers, p)
	dir := t.TempDir()
	stop, _ := runWorkers(t, brokers, p, dir, 1)
	prod := testkit.NewProducer(t, brokers)
	want := map[testkit.Key]uint64{}
	ts := time.Now()
	for _, v := range []string{"a", "b", "c"} {
		prod.Send(testkit.Like(v, ts))
		testkit.Expect(want, p, v, ts)
	}
	out.WaitFinals(t, want, 10*time.Second)

	deadline := time.Now().Add(15 * time.Second)
	for {
		live := map[string]bool{} // count keys whose latest changelog record is not a tombstone
		for _, r := range testkit.ReadAll(t, brokers, topics.Changelog) {
			if len(r.Key) == 0 || r.Key[0] != 'c' {
				continue
			}
			live[string(r.Key)] = r.Value != nil
		}
		n := 0
		for _, alive := range live {
			if alive {
				n++
			}
		}
		if len(live) == 3 && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after retention, %d of %d count keys are still live in the changelog", n, len(live))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The local store dropped them too.
	stop()
	st, err := store.Open(filepath.Join(dir, "w0"), testkit.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for q := int32(0); q < 2; q++ {
		if wins, err := st.Windows(q); err != nil || len(wins) != 0 {
			t.Fatalf("partition %d still holds windows %v (%v)", q, wins, err)
		}
	}
}

// The demo generator: exactly one worker at a time sends one like per
// interval, never two for the same tick, never none while workers run.
func TestDemoLikesComeFromOneWorker(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		cfg := DefaultConfig()
		cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, fmt.Sprintf("d%d", i), filepath.Join(t.TempDir(), "s"), p
		cfg.StandbyReplicas, cfg.DemoInterval, cfg.SessionTimeout, cfg.Logger = 0, 300*time.Millisecond, 2*time.Second, testkit.Logger()
		w, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(ctx) }()
	}
	time.Sleep(4 * time.Second)
	cancel()
	wg.Wait()
	recs := testkit.ReadAll(t, brokers, topics.Ingestion)
	ticks := map[int64]int{}
	var first, last int64
	for _, r := range recs {
		ms := r.Timestamp.UnixMilli()
		if first == 0 || ms < first {
			first = ms
		}
		last = max(last, ms)
		if string(r.Value) != catalog.DemoID1 && string(r.Value) != catalog.DemoID2 {
			t.Fatalf("unexpected input record %q", r.Value)
		}
		ticks[r.Timestamp.UnixMilli()/300]++
	}
	for tick, n := range ticks {
		if n > 1 {
			t.Errorf("tick %d has %d demo likes", tick, n)
		}
	}
	// One per tick from the first to the last, except while the second
	// worker joins: transactions abort during the rebalance (about a
	// second) and a tick that passes meanwhile is not caught up.
	if span := int((last - first) / 300); len(recs) < 3 || len(recs) < span-4 || len(recs) > span+1 {
		var ts []int64
		for _, r := range recs {
			ts = append(ts, r.Timestamp.UnixMilli()%100000)
		}
		t.Errorf("%d demo likes over %d ticks: %v", len(recs), span, ts)
	}
}

// Likes of an idempotent request are counted once per index, whatever
// mixture of partial attempts and retries reaches the topic, even with
// gaps (a failed batch in the middle of an attempt).
func TestIdempotentRetriesCountOnce(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 2)
	out := testkit.ReadOutputs(t, brokers, p)
	_, regs := runWorkers(t, brokers, p, t.TempDir(), 1)
	prod := testkit.NewProducer(t, brokers)
	ts := time.Now()
	like := func(video, key string, seqs ...int) []*kgo.Record {
		var recs []*kgo.Record
		for _, i := range seqs {
			r := testkit.Like(video, ts)
			r.Key = []byte(video)
			r.Headers = []kgo.RecordHeader{{Key: record.IdempotencyKeyHeader, Value: []byte(key)}, {Key: record.SeqHeader, Value: []byte(fmt.Sprint(i))}}
			recs = append(recs, r)
		}
		return recs
	}
	var recs []*kgo.Record
	recs = append(recs, like("v", "req-1", 2, 3, 4)...)       // first attempt: 0 and 1 lost
	recs = append(recs, like("v", "req-1", 0, 1, 2, 3, 4)...) // retry
	recs = append(recs, like("v", "req-1", 0, 1, 2, 3, 4)...) // retry of a success
	recs = append(recs, like("v", "req-2", 0, 1)...)          // another request
	recs = append(recs, like("w", "req-1", 0)...)             // same key, other video
	recs = append(recs, testkit.Like("v", ts))                // no key: always counted
	prod.Send(recs...)
	want := map[testkit.Key]uint64{}
	for i := 0; i < 8; i++ {
		testkit.Expect(want, p, "v", ts)
	}
	testkit.Expect(want, p, "w", ts)
	out.WaitFinals(t, want, 10*time.Second)
	if d := sum(regs, "counter_worker_duplicates_total"); d != 3+5 {
		t.Errorf("duplicates metric = %v, want 8 (3 in the first retry, 5 in the second)", d)
	}
}

// Idempotency records are deleted (store and changelog) once the watermark
// is past their window.
func TestIdempotencyRecordsExpire(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, 500*time.Millisecond, "1s")
	testkit.EnsureTopics(t, brokers, p, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, "x", t.TempDir(), p
	cfg.IdempotencyWindow, cfg.SessionTimeout, cfg.Logger = 2*time.Second, 2*time.Second, testkit.Logger()
	w, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	r := testkit.Like("v", time.Now())
	r.Headers = []kgo.RecordHeader{{Key: record.IdempotencyKeyHeader, Value: []byte("k")}, {Key: record.SeqHeader, Value: []byte("0")}}
	testkit.NewProducer(t, brokers).Send(r)
	deadline := time.Now().Add(15 * time.Second)
	for {
		state := map[string]bool{}
		for _, r := range testkit.ReadAll(t, brokers, topics.Changelog) {
			if len(r.Key) > 0 && r.Key[0] == 'i' {
				state[string(r.Key)] = r.Value != nil
			}
		}
		if len(state) == 1 && !state["iv\x00k"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idempotency record not expired: %v", state)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A worker restarted with its state directory replays only the changelog
// tail, not the whole state, and goes on counting from it.
func TestRestartReplaysOnlyTheTail(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "1m")
	testkit.EnsureTopics(t, brokers, p, 2)
	dir := t.TempDir()
	const videos = 3000
	prod := testkit.NewProducer(t, brokers)
	ts := time.Now()
	var recs []*kgo.Record
	for i := 0; i < videos; i++ {
		recs = append(recs, testkit.Like(fmt.Sprintf("v%d", i), ts))
	}
	prod.Send(recs...)

	stop, regs := runWorkers(t, brokers, p, dir, 1)
	deadline := time.Now().Add(20 * time.Second)
	for sum(regs, "counter_worker_likes_counted_total") < videos {
		if time.Now().After(deadline) {
			t.Fatalf("counted %v of %d", sum(regs, "counter_worker_likes_counted_total"), videos)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); sum(regs, "counter_worker_state_keys") != videos; {
		if time.Now().After(deadline) {
			t.Fatalf("state keys gauge = %v, want %d", sum(regs, "counter_worker_state_keys"), videos)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if n := sum(regs, "counter_worker_restored_records_total"); n != 0 {
		t.Fatalf("first start replayed %v records", n)
	}
	prod.Send(testkit.Like("v0", ts))
	stop, regs = runWorkers(t, brokers, p, dir, 1)
	deadline = time.Now().Add(20 * time.Second)
	for sum(regs, "counter_worker_likes_counted_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("restarted worker counted nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if k := sum(regs, "counter_worker_state_keys"); k != videos {
		t.Errorf("after the restart the state keys gauge = %v, want %d", k, videos)
	}
	stop()
	replayed := sum(regs, "counter_worker_restored_records_total")
	t.Logf("state of %d keys; the restart replayed %v changelog records", videos, replayed)
	if replayed > 20 {
		t.Fatalf("restart replayed %v changelog records for a state of %d keys", replayed, videos)
	}
	st, err := store.Open(filepath.Join(dir, "w0"), testkit.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	win := window.Of(ts.UnixMilli(), 60000)
	if c, _ := st.Count(store.CountKey(nil, partition.ForKey([]byte("v0"), 2), win, []byte("v0"))); c != 2 {
		t.Fatalf("v0 counts %d after the restart, want 2", c)
	}
}
