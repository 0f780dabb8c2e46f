package viewfeed

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
)

// txnProducer writes output records in transactions, as the workers do.
type txnProducer struct {
	t  *testing.T
	cl *kgo.Client
	n  int32 // partitions of the output topics
}

func newTxnProducer(t *testing.T, brokers []string, partitions int32) *txnProducer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("viewfeed-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &txnProducer{t: t, cl: cl, n: partitions}
}

func (p *txnProducer) write(commit bool, ts time.Time, recs ...record.Aggregation) {
	p.t.Helper()
	ctx := context.Background()
	if err := p.cl.BeginTransaction(); err != nil {
		p.t.Fatal(err)
	}
	for _, a := range recs {
		size := window.NewSize(a.WindowEnd.Sub(a.WindowStart).Milliseconds())
		val := record.AppendAggregation(nil, a.Type, a.VideoUID, a.Count, a.WindowStart.UnixMilli(), a.WindowEnd.UnixMilli(), a.Final)
		r := &kgo.Record{Topic: topics.Output(size), Key: []byte(a.VideoUID), Value: val, Timestamp: ts,
			Partition: partition.ForKey([]byte(a.VideoUID), p.n)}
		if err := p.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			p.t.Fatal(err)
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := p.cl.EndTransaction(ctx, end); err != nil {
		p.t.Fatal(err)
	}
}

func agg(s window.Size, id string, start int64, count uint64, final bool) record.Aggregation {
	return record.Aggregation{Type: s.Label, VideoUID: id, Count: count, WindowStart: time.UnixMilli(start).UTC(),
		WindowEnd: time.UnixMilli(start + s.Millis).UTC(), Final: final}
}

func TestFeedReplaysRecentAndFollows(t *testing.T) {
	brokers := testkit.StartBroker(t)
	pol := testkit.Policy(t, time.Second, "2s", "10s")
	testkit.EnsureTopics(t, brokers, pol, 3)
	s2, s10 := pol.Sizes[0], pol.Sizes[1]
	p := newTxnProducer(t, brokers, 3)
	now := time.Now()
	cur2 := window.Of(now.UnixMilli(), s2.Millis).Start
	cur10 := window.Of(now.UnixMilli(), s10.Millis).Start

	// Produced an hour ago: before the feed's starting point.
	p.write(true, now.Add(-time.Hour), agg(s2, "old", cur2, 99, false))
	// Recent: replayed.
	p.write(true, now, agg(s2, "a", cur2, 1, false), agg(s2, "a", cur2, 2, false), agg(s10, "a", cur10, 2, false), agg(s2, "b", cur2, 5, false))
	// Aborted: never seen.
	p.write(false, now, agg(s2, "a", cur2, 1000, false))

	v := view.New(pol.Sizes, 2)
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	var got []view.Change
	f := New(Config{Brokers: brokers, Logger: testkit.Logger(), Registerer: reg, PruneInterval: 50 * time.Millisecond}, v, func(cs []view.Change) {
		mu.Lock()
		got = append(got, cs...)
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-f.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("feed not ready in 10s")
	}
	// Ready means every record there at the start is applied.
	if c, ok := v.Get(0, "a", cur2); !ok || c.Count != 2 {
		t.Fatalf("a in 2s window: %+v %v", c, ok)
	}
	if c, _ := v.Get(0, "b", cur2); c.Count != 5 {
		t.Fatalf("b: %+v", c)
	}
	if c, _ := v.Get(1, "a", cur10); c.Count != 2 {
		t.Fatalf("a in 10s window: %+v", c)
	}
	if _, ok := v.Get(0, "old", cur2); ok {
		t.Fatal("a record produced an hour ago was replayed")
	}
	if n := value(f.m.records.WithLabelValues("applied")); n != 4 {
		t.Fatalf("applied %v records, want 4", n)
	}
	if value(f.m.ready) != 1 {
		t.Fatal("ready gauge not set")
	}

	// Live records follow, in order; a final sticks.
	p.write(true, time.Now(), agg(s2, "a", cur2, 3, true), agg(s2, "c", cur2, 1, false))
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := v.Get(0, "c", cur2)
		if c.Count == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("live record not applied in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c, _ := v.Get(0, "a", cur2); c.Count != 3 || !c.Final {
		t.Fatalf("a after its final: %+v", c)
	}
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n < 5 {
		t.Fatalf("notified %d changes, want at least 5", n)
	}
}

func TestFeedStartsOnEmptyTopics(t *testing.T) {
	brokers := testkit.StartBroker(t)
	pol := testkit.Policy(t, time.Second, "1s")
	testkit.EnsureTopics(t, brokers, pol, 2)
	f := New(Config{Brokers: brokers, Logger: testkit.Logger()}, view.New(pol.Sizes, 2), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	select {
	case <-f.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("feed on empty topics not ready")
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
