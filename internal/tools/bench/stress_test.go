package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/tools/loadgen"
	"github.com/counter-dev/counter/internal/worker"
)

// The pipeline stress check (issue 9): one worker's first transaction
// counts a whole keyed backlog and writes more than 2 MiB of changelog to
// every partition; a second worker joins during it, so the cooperative
// revoke aborts it; then the first worker restarts (a rolling restart), so
// the partitions it kept move to the second worker and back: both restore
// changelogs that start with that large aborted transaction, several
// partitions per restore consumer, whose fetches carry at most 2 MiB. Every
// like must still be counted exactly once: each (video, window)'s final
// equal to its likes in the backlog, and each window size's finals adding
// up to the likes. Repeated, as rebalances' timing varies; at least half
// the repetitions must reach the scenario (a restore over an aborted
// transaction of more than 2 MiB), or the check would prove nothing.
//
// It runs without the race detector (`make stress`, part of `make test`):
// with it, one repetition takes minutes; `go test -short` skips it.
// COUNTER_STRESS_RUNS, COUNTER_STRESS_EVENTS and COUNTER_STRESS_VIDEOS
// change the repetitions (10), likes per repetition (200000) and videos
// (20000, drawn uniformly: more (video, window) keys per like).
func TestPipelineStress(t *testing.T) {
	if raceEnabled {
		t.Skip("too slow with the race detector: `make stress` runs it without")
	}
	if testing.Short() {
		t.Skip("a stress check of two minutes")
	}
	runs := envInt(t, "COUNTER_STRESS_RUNS", 10)
	events := envInt(t, "COUNTER_STRESS_EVENTS", 200000)
	ids := make([][]byte, envInt(t, "COUNTER_STRESS_VIDEOS", 20000))
	for i := range ids {
		ids[i] = []byte(loadgen.VideoID(i))
	}
	var hit, failed int
	for run := range runs {
		var scenario bool
		ok := t.Run(fmt.Sprintf("run-%d", run+1), func(t *testing.T) {
			scenario = stressRun(t, &backlog{events: events, keyed: true, ids: ids, dist: loadgen.Uniform,
				span: 30 * time.Minute, exact: true})
		})
		if scenario {
			hit++
		}
		if !ok {
			failed++
		}
	}
	t.Logf("%d of %d repetitions wrong; the scenario (a restore over an aborted transaction with more than 2 MiB of changelog in a partition) happened in %d", failed, runs, hit)
	if hit < (runs+1)/2 {
		t.Errorf("the scenario happened in only %d of %d repetitions", hit, runs)
	}
}

// firstCommitInterval is how long the first worker's transactions last:
// long enough that its first one reads the whole backlog, and that the
// rebalance the second worker starts reaches it (at a heartbeat, within
// about 3 s) before that transaction ends, dooming it.
const firstCommitInterval = 4 * time.Second

// restoreMsg is what a worker logs when it starts restoring a partition.
const restoreMsg = "restoring partition state from the changelog"

// abortedBytes is the size of aborted changelog a partition must hold for
// the scenario: more than the restore fetches at once.
const abortedBytes = 2 << 20

// stressRun runs the scenario once and checks every final. It reports
// whether a worker restored a partition over an aborted transaction of more
// than abortedBytes.
func stressRun(t *testing.T, b *backlog) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{Runs: 1, Partitions: 6, Logger: testkit.Logger()}
	c, err := startCluster(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	began := time.Now()
	if _, err := preload(ctx, c, b, o); err != nil {
		t.Fatal(err)
	}
	phases := []string{"preload " + time.Since(began).Round(time.Millisecond).String()}
	phase := func(name string) {
		phases = append(phases, name+" "+time.Since(began).Round(time.Millisecond).String())
	}
	logs := newLogCapture(o.Logger.Handler(), restoreMsg)
	log := slog.New(logs)
	ws := newWorkerSet(ctx)
	defer ws.stop()
	first := benchConfig(log)
	first.CommitInterval, first.TransactionTimeout = firstCommitInterval, time.Minute
	if err := ws.add(c, first); err != nil {
		t.Fatal(err)
	}
	// The second worker joins once the first is counting in its first
	// transaction.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for counterValue(ws.metrics[0].Rekeyed) == 0 {
		if err := ws.failed(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the first worker read nothing")
		case <-tick.C:
		}
	}
	if ended(ws.metrics[0]) > 0 {
		t.Fatal("the first worker ended a transaction before it read anything")
	}
	if err := ws.add(c, benchConfig(log)); err != nil {
		t.Fatal(err)
	}
	// Once the first transaction has ended (aborted, unless the first
	// worker learnt of the rebalance only at its end), the first worker
	// restarts, as in a rolling restart: the second one restores its
	// partitions, whose changelog starts with that transaction, then hands
	// some back.
	for ended(ws.metrics[0]) == 0 {
		if err := ws.failed(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the first worker's first transaction did not end")
		case <-tick.C:
		}
	}
	if counterValue(ws.metrics[0].Transactions.WithLabelValues("aborted")) == 0 {
		t.Log("the first worker's first transaction was committed: the second worker joined too late")
	}
	phase("first transaction ended")
	if err := ws.stopWorker(0); err != nil {
		t.Fatal(err)
	}
	restarted := benchConfig(log)
	restarted.ID, restarted.StateDir = "bench-0", c.path("worker-0")
	if err := ws.add(c, restarted); err != nil {
		t.Fatal(err)
	}
	if err := awaitPipeline(ctx, c, ws, b, o.Logger); err != nil {
		t.Fatal(err)
	}
	phase("pipeline done")
	if err := ws.stop(); err != nil {
		t.Fatal(err)
	}
	_, err = verifyOutputs(ctx, c, int64(b.events), b.finals, b.counts)
	phase("verified")
	hit, desc := scenarioHit(ctx, t, c, logs)
	phase("changelog read")
	t.Logf("%s\ntimes: %s", desc, strings.Join(phases, ", "))
	if err != nil {
		t.Error(err)
	}
	return hit
}

// ended returns how many transactions the worker of m ended.
func ended(m *worker.Metrics) float64 {
	return counterValue(m.Transactions.WithLabelValues("committed")) + counterValue(m.Transactions.WithLabelValues("aborted"))
}

// scenarioHit reports whether a worker restored a changelog partition over
// an aborted transaction of more than abortedBytes, and describes the
// restores and the aborted transactions. The transactions are read back
// read_uncommitted, from their markers: not through the broker's
// aborted-transaction lists, which the check is about.
func scenarioHit(ctx context.Context, t *testing.T, c *cluster, logs *logCapture) (bool, string) {
	aborted, err := abortedTxns(ctx, c)
	if err != nil {
		t.Fatalf("reading the changelog: %v", err)
	}
	var desc []string
	hit := false
	for _, r := range logs.find(restoreMsg) {
		p, _ := strconv.Atoi(r["partition"])
		from, _ := strconv.ParseInt(r["from"], 10, 64)
		to, _ := strconv.ParseInt(r["to"], 10, 64)
		d := fmt.Sprintf("%s restored partition %d [%d, %d)", r["worker"], p, from, to)
		for _, a := range aborted[int32(p)] {
			if a.first >= from && a.marker < to {
				d += fmt.Sprintf(", over an aborted transaction of %d records (%.1f MiB)", a.records, float64(a.bytes)/(1<<20))
				if a.bytes > abortedBytes {
					hit = true
				}
			}
		}
		desc = append(desc, d)
	}
	if len(desc) == 0 {
		desc = append(desc, "no changelog restored")
	}
	for p := range int32(c.layout[topics.Changelog]) {
		for _, a := range aborted[p] {
			desc = append(desc, fmt.Sprintf("partition %d: aborted [%d, %d], %d records (%.1f MiB)", p, a.first, a.marker, a.records, float64(a.bytes)/(1<<20)))
		}
	}
	return hit, strings.Join(desc, "; ")
}

// abortedTxn is an aborted transaction in one changelog partition.
type abortedTxn struct {
	first, marker int64 // offsets of its first record and of its abort marker
	records       int
	bytes         int // keys and values
}

// abortedTxns reads the changelog read_uncommitted and returns its aborted
// transactions per partition, from the transaction markers.
func abortedTxns(ctx context.Context, c *cluster) (map[int32][]abortedTxn, error) {
	ends, err := c.adm.ListEndOffsets(ctx, topics.Changelog)
	if err != nil {
		return nil, err
	}
	parts := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			parts[o.Partition] = kgo.NewOffset().AtStart()
			left[o.Partition] = o.Offset
		}
	})
	out := map[int32][]abortedTxn{}
	if len(parts) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: parts}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	open := map[int32]map[int64]*abortedTxn{} // per partition, by producer id
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return nil, errs[0].Err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if open[r.Partition] == nil {
				open[r.Partition] = map[int64]*abortedTxn{}
			}
			txn := open[r.Partition][r.ProducerID]
			switch {
			case r.Attrs.IsControl():
				// The key of a marker: version, then type (0 abort, 1
				// commit).
				if txn != nil && len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:]) == 0 {
					txn.marker = r.Offset
					out[r.Partition] = append(out[r.Partition], *txn)
				}
				delete(open[r.Partition], r.ProducerID)
			case txn == nil:
				open[r.Partition][r.ProducerID] = &abortedTxn{first: r.Offset, records: 1, bytes: len(r.Key) + len(r.Value)}
			default:
				txn.records++
				txn.bytes += len(r.Key) + len(r.Value)
			}
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return out, nil
}

// logCapture is a slog handler that keeps the records of some messages
// (with their attributes as strings) and passes every record on.
type logCapture struct {
	next  slog.Handler
	msgs  []string // the messages kept
	attrs []slog.Attr
	mu    *sync.Mutex
	got   *[]map[string]string
}

func newLogCapture(next slog.Handler, msgs ...string) *logCapture {
	return &logCapture{next: next, msgs: msgs, mu: &sync.Mutex{}, got: new([]map[string]string)}
}

// Enabled keeps info records, which the workers' restores are logged at.
func (h *logCapture) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

// Handle keeps the record and passes it on.
func (h *logCapture) Handle(ctx context.Context, r slog.Record) error {
	if slices.Contains(h.msgs, r.Message) {
		h.keep(r)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *logCapture) keep(r slog.Record) {
	m := map[string]string{"msg": r.Message}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.got = append(*h.got, m)
	h.mu.Unlock()
}

// WithAttrs keeps the attributes for the records captured.
func (h *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	c.next = h.next.WithAttrs(as)
	return &c
}

// WithGroup is not used by the workers; groups are flattened.
func (h *logCapture) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

// find returns the records captured with message msg.
func (h *logCapture) find(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, m := range *h.got {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}
