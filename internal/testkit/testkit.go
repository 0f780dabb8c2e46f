// Package testkit helps tests run the pipeline against the embedded broker:
// start a broker, produce likes, read the output topics back.
package testkit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Logger returns a logger for tests: silent unless COUNTER_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("COUNTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// StartBroker starts an in-memory embedded broker on a free port, closed
// when the test ends.
func StartBroker(t testing.TB) []string { return StartCluster(t, 1) }

// StartCluster starts an in-memory embedded broker of nodes nodes on free
// ports, closed when the test ends, and returns their addresses.
func StartCluster(t testing.TB, nodes int) []string {
	t.Helper()
	b, err := broker.Start(broker.Config{Port: 0, Nodes: nodes, MinSessionTimeout: 100 * time.Millisecond, Logger: Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addrs()
}

// GroupMember starts a client with opts (a consumer group among them) that
// polls in the background, so that it stays a live member of its group,
// until the test ends. Closing it earlier ends its membership as a crash
// would for a static member (no leave).
func GroupMember(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil && !cl.PollFetches(ctx).IsClientClosed() {
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return cl
}

// Admin returns an admin client of brokers, closed when the test ends.
func Admin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// Policy builds a window policy or fails the test.
func Policy(t testing.TB, grace time.Duration, sizes ...string) window.Policy {
	t.Helper()
	s, err := window.ParseSizes(sizes)
	if err != nil {
		t.Fatal(err)
	}
	p, err := window.NewPolicy(s, grace, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// EnsureTopics creates the pipeline's topics with the given partitions.
func EnsureTopics(t testing.TB, brokers []string, p window.Policy, partitions int32) topics.Layout {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	layout, err := topics.Ensure(ctx, kadm.NewClient(cl), p.Sizes, topics.Spec{Partitions: partitions, Replication: 1})
	if err != nil {
		t.Fatal(err)
	}
	return layout
}

// Producer writes raw records like the original producers: unkeyed, value =
// video id.
type Producer struct {
	t  testing.TB
	cl *kgo.Client
}

// NewProducer returns a plain (non-transactional) producer.
func NewProducer(t testing.TB, brokers []string) *Producer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topics.Ingestion))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &Producer{t: t, cl: cl}
}

// Send produces records and waits for their acknowledgement.
func (p *Producer) Send(recs ...*kgo.Record) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		p.t.Fatal(err)
	}
}

// Like returns an unkeyed like for id at ts.
func Like(id string, ts time.Time) *kgo.Record {
	return &kgo.Record{Topic: topics.Ingestion, Value: []byte(id), Timestamp: ts}
}

// Key identifies one count: a video in one window.
type Key struct {
	Type  string
	Video string
	Start int64 // window start, Unix ms
}

// Outputs collects the output records of a pipeline as they arrive,
// read_committed from the start of every output topic.
type Outputs struct {
	mu      sync.Mutex
	finals  map[Key][]uint64
	updates map[Key][]uint64
	seen    map[Key]time.Time // when the first final of a key was read
	cancel  context.CancelFunc
	done    chan struct{}
}

// ReadOutputs starts reading the output topics of p in the background.
func ReadOutputs(t testing.TB, brokers []string, p window.Policy) *Outputs {
	t.Helper()
	var names []string
	for _, s := range p.Sizes {
		names = append(names, topics.Output(s))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(names...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outputs{finals: map[Key][]uint64{}, updates: map[Key][]uint64{}, seen: map[Key]time.Time{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				a, err := record.ParseAggregation(r.Value)
				if err != nil {
					t.Errorf("bad output record %q: %v", r.Value, err)
					return
				}
				k := Key{a.Type, a.VideoUID, a.WindowStart.UnixMilli()}
				o.mu.Lock()
				if a.Final {
					if len(o.finals[k]) == 0 {
						o.seen[k] = time.Now()
					}
					o.finals[k] = append(o.finals[k], a.Count)
				} else {
					o.updates[k] = append(o.updates[k], a.Count)
				}
				o.mu.Unlock()
			})
		}
	}()
	t.Cleanup(o.Stop)
	return o
}

// Stop stops reading.
func (o *Outputs) Stop() {
	o.cancel()
	<-o.done
}

// Finals returns a copy of every final count seen, per key.
func (o *Outputs) Finals() map[Key][]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[Key][]uint64, len(o.finals))
	for k, v := range o.finals {
		out[k] = append([]uint64(nil), v...)
	}
	return out
}

// FinalSeen returns when the first final of k was read (zero if never).
func (o *Outputs) FinalSeen(k Key) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[k]
}

// Updates returns a copy of every non-final count seen, per key.
func (o *Outputs) Updates() map[Key][]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[Key][]uint64, len(o.updates))
	for k, v := range o.updates {
		out[k] = append([]uint64(nil), v...)
	}
	return out
}

// WaitFinals waits until a final exists for every key of want, then checks
// that each key has exactly one final equal to want and that no other key
// has a final. It fails the test after timeout.
func (o *Outputs) WaitFinals(t testing.TB, want map[Key]uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := o.Finals()
		missing := 0
		for k := range want {
			if len(got[k]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			// Give duplicates a moment to show up if there were any.
			time.Sleep(300 * time.Millisecond)
			CheckFinals(t, want, o.Finals())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of %d expected finals are missing; got %d finals: %s", timeout, missing, len(want), len(got), Diff(want, got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CheckFinals fails the test unless got holds exactly one final per key of
// want, equal to it, and nothing else.
func CheckFinals(t testing.TB, want map[Key]uint64, got map[Key][]uint64) {
	t.Helper()
	if d := Diff(want, got); d != "" {
		t.Fatalf("finals differ from expected: %s", d)
	}
}

// Diff describes how got differs from want ("" if it does not).
func Diff(want map[Key]uint64, got map[Key][]uint64) string {
	var s string
	n := 0
	add := func(format string, args ...any) {
		if n < 20 {
			s += fmt.Sprintf(format, args...)
		}
		n++
	}
	for k, w := range want {
		g := got[k]
		switch {
		case len(g) == 0:
			add("\n  %v: no final, want %d", k, w)
		case len(g) > 1:
			add("\n  %v: %d finals %v, want one of %d", k, len(g), g, w)
		case g[0] != w:
			add("\n  %v: final %d, want %d", k, g[0], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			add("\n  %v: unexpected finals %v", k, g)
		}
	}
	if n > 20 {
		s += fmt.Sprintf("\n  ... %d differences in all", n)
	}
	return s
}

// Expect adds one like of video at ts to want, for every size of p.
func Expect(want map[Key]uint64, p window.Policy, video string, ts time.Time) {
	for _, s := range p.Sizes {
		w := window.Of(ts.UnixMilli(), s.Millis)
		want[Key{s.Label, video, w.Start}]++
	}
}

// ReadAll reads every committed record of topic currently in the log.
func ReadAll(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			offsets[o.Partition] = kgo.NewOffset().AtStart()
			remaining[o.Partition] = o.Offset
		}
	})
	if len(offsets) == 0 {
		return nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []*kgo.Record
	for len(remaining) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}
