package worker

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/workerstatus"
	"github.com/counter-dev/counter/internal/testkit"
)

// countingHandler counts the log records whose message contains substr.
type countingHandler struct {
	substr string
	n      *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// A worker writes its status when it starts (not ready yet) and once it is
// ready, keyed by its id.
func TestStatusIsPublished(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 2)
	_, regs := runWorkers(t, brokers, p, t.TempDir(), 1)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.WorkerStatus),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seen []workerstatus.Status
	for ready := false; !ready; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no ready status of w0 in the topic; read %+v", seen)
		}
		fs.EachRecord(func(r *kgo.Record) {
			st, err := workerstatus.Parse(r.Key, r.Value)
			if err != nil {
				t.Fatalf("status record %q: %v", r.Value, err)
			}
			if st.Worker != "w0" || time.Since(st.At) > time.Minute || r.Partition != 0 {
				t.Errorf("status %+v in partition %d", st, r.Partition)
			}
			seen = append(seen, st)
			ready = ready || st.Ready
		})
	}
	if seen[0].Ready {
		t.Errorf("the first status is ready, before the worker had joined: %+v", seen)
	}
	if n := sum(regs, "counter_worker_status_writes_total", "result", "ok"); n < 2 {
		t.Errorf("%v status writes counted ok, want at least 2", n)
	}
}

// Status writes that fail (here: the topic is gone) are counted and logged,
// and the worker counts on.
func TestStatusFailuresDoNotStopCounting(t *testing.T) {
	defer func(d time.Duration) { statusTimeout = d }(statusTimeout)
	statusTimeout = 300 * time.Millisecond
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, testGrace, "2s")
	testkit.EnsureTopics(t, brokers, p, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := testkit.Admin(t, brokers).DeleteTopic(ctx, topics.WorkerStatus); err != nil {
		t.Fatal(err)
	}
	out := testkit.ReadOutputs(t, brokers, p)
	var warnings atomic.Int64
	_, regs := runWorkersWith(t, brokers, p, t.TempDir(), 1, func(c *Config) {
		c.Logger = slog.New(countingHandler{"cannot write the worker's status", &warnings})
	})
	want := map[testkit.Key]uint64{}
	prod := testkit.NewProducer(t, brokers)
	for range 10 {
		ts := time.Now()
		prod.Send(testkit.Like("v", ts))
		testkit.Expect(want, p, "v", ts)
	}
	out.WaitFinals(t, want, 2*time.Second+testGrace+10*time.Second)
	if n := sum(regs, "counter_worker_status_writes_total", "result", "failed"); n < 1 {
		t.Errorf("%v failed status writes counted, want some", n)
	}
	if n := sum(regs, "counter_worker_status_writes_total", "result", "ok"); n != 0 {
		t.Errorf("%v status writes counted ok without a topic", n)
	}
	if n := warnings.Load(); n != 1 {
		t.Errorf("%d warnings of failed status writes, want 1 (at most one a minute)", n)
	}
}

// write never waits for the broker: with none to answer, a hundred writes
// return at once, one record is in flight at a time, and its failure asks
// for the next write.
func TestStatusWriteNeverBlocks(t *testing.T) {
	defer func(d time.Duration) { statusTimeout = d }(statusTimeout)
	statusTimeout = 200 * time.Millisecond
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var warnings atomic.Int64
	s := newStatusWriter(cl, "w", func() bool { return true }, func() []workerstatus.Restore { return nil }, m, slog.New(countingHandler{"cannot write", &warnings}))
	start := time.Now()
	for range 100 {
		if next := s.write(context.Background()); next != workerstatus.Heartbeat {
			t.Fatalf("next write of a ready worker in %v", next)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("100 writes took %v", took)
	}
	select {
	case <-s.wake:
	case <-time.After(10 * time.Second):
		t.Fatal("the failed write did not ask for another")
	}
	if n := sum([]*prometheus.Registry{reg}, "counter_worker_status_writes_total", "result", "failed"); n != 1 {
		t.Errorf("%v failed writes, want 1 (one record in flight at a time)", n)
	}
	for range 4 {
		s.failed(context.DeadlineExceeded)
	}
	if n := warnings.Load(); n != 1 {
		t.Errorf("%d warnings for 5 failures, want 1", n)
	}
}
