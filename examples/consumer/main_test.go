package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/testkit"
)

// waitWriter collects what is written and closes seen when it contains want.
type waitWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (w *waitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _ := w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return n, nil
}

func (w *waitWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// produceTxn writes counts to topic in one transaction, committed or aborted.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, commit bool, counts ...aggregation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, a := range counts {
		v, _ := json.Marshal(a)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(a.VideoUID), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// The example prints committed counts and never one of an aborted
// transaction, as the workers' outputs need.
func TestConsumerSkipsAbortedCounts(t *testing.T) {
	b, err := broker.Start(broker.Config{Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const topic = "video_aggregations_1"
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(b.Addrs()...)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := mustClient(t, kgo.SeedBrokers(b.Addrs()...), kgo.TransactionalID("consumer-example-test"), kgo.DefaultProduceTopic(topic))
	win := func(video string, count int64, final bool) aggregation {
		return aggregation{Type: "1min", VideoUID: video, Count: count, WindowStart: "2026-11-26T10:07:00Z", WindowEnd: "2026-11-26T10:08:00Z", Final: final}
	}
	produceTxn(t, prod, topic, true, win("v1", 2, false))
	produceTxn(t, prod, topic, false, win("v1", 999, true), win("aborted", 7, true)) // a worker's aborted commit
	produceTxn(t, prod, topic, true, win("v1", 3, true), win("last", 1, true))       // its retry

	out := &waitWriter{want: "last 1 final", seen: make(chan struct{})}
	seen := out.seen
	var errs waitWriter
	done := make(chan error, 1)
	cctx, stop := context.WithCancel(ctx)
	go func() {
		done <- consume(cctx, config{brokers: b.Addrs(), topics: []string{topic}, finals: true}, out, &errs)
	}()
	select {
	case <-seen: // the last committed record: everything before it was read
	case <-ctx.Done():
		t.Fatalf("the consumer printed no final of the committed transaction:\n%s\n%s", out.String(), errs.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "1min 2026-11-26T10:07:00Z 2026-11-26T10:08:00Z v1 3 final\n1min 2026-11-26T10:07:00Z 2026-11-26T10:08:00Z last 1 final\n"
	if got := out.String(); got != want {
		t.Fatalf("printed:\n%swant (finals of committed transactions only):\n%s", got, want)
	}
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
