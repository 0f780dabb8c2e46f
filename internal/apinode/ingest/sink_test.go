package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/counter-dev/counter/internal/apinode/ingest/ingesttest"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/testkit"
)

const (
	idA = "93f98662-8907-4f43-bb4c-280501481046"
	idB = "69e7266c-753e-4ed3-b7fc-9035133a293f"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newSink(t *testing.T, brokers []string, timeout time.Duration) *KafkaSink {
	t.Helper()
	s, err := NewKafkaSink(SinkConfig{Brokers: brokers, Topic: DefaultTopic, Timeout: timeout, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// countByKey counts records by key, failing on any record whose value is
// not its key.
func countByKey(t *testing.T, recs []*kgo.Record) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range recs {
		if string(r.Key) != string(r.Value) {
			t.Fatalf("record key %q, value %q", r.Key, r.Value)
		}
		n[string(r.Key)]++
	}
	return n
}

// sendExpectUnavailable calls SendLikes and fails the test unless it
// returned an ErrUnavailable error within timeout plus a second.
func sendExpectUnavailable(t *testing.T, s *KafkaSink, id string, n int, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	err := s.SendLikes(context.Background(), id, n)
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SendLikes = %v, want an error wrapping ErrUnavailable", err)
	}
	if took > timeout+time.Second {
		t.Fatalf("SendLikes took %v, more than Timeout %v + 1s", took, timeout)
	}
	t.Logf("failed as expected after %v: %v", took, err)
}

func TestSendLikesProducesKeyedRecords(t *testing.T) {
	c := ingesttest.NewCluster(t, 3, []string{DefaultTopic})
	s := newSink(t, c.ListenAddrs(), 5*time.Second)

	before := time.Now().Truncate(time.Millisecond)
	if err := s.SendLikes(context.Background(), idA, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SendLikes(context.Background(), idB, 1); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	recs := testkit.ReadAll(t, c.ListenAddrs(), DefaultTopic)
	if got := countByKey(t, recs); got[idA] != 3 || got[idB] != 1 || len(got) != 2 {
		t.Fatalf("records by key = %v, want 3 of %s and 1 of %s", got, idA, idB)
	}
	for _, r := range recs {
		if r.Timestamp.Before(before) || r.Timestamp.After(after) {
			t.Errorf("timestamp %v outside [%v, %v]", r.Timestamp, before, after)
		}
	}
}

func TestSendLikesClusterDown(t *testing.T) {
	c := ingesttest.NewCluster(t, 3, []string{DefaultTopic})
	const timeout = time.Second
	s := newSink(t, c.ListenAddrs(), timeout)
	if err := s.SendLikes(context.Background(), idA, 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	sendExpectUnavailable(t, s, idA, 3, timeout)
}

// A broker that swallows a produce request (never answers) must not make the
// sink retry those likes after it reported them failed: the next likes on the
// same partition go through, and the failed ones are nowhere in the topic.
func TestSlowBrokerFailedLikesAreNotSentLater(t *testing.T) {
	c := ingesttest.NewCluster(t, 1, []string{DefaultTopic})
	const timeout = time.Second
	s := newSink(t, c.ListenAddrs(), timeout)
	if err := s.SendLikes(context.Background(), idB, 1); err != nil { // connect, get a producer id
		t.Fatal(err)
	}

	swallowed := make(chan struct{}, 1)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		swallowed <- struct{}{}
		return nil, nil, true // handled, no answer: the records are not stored
	})
	sendExpectUnavailable(t, s, idA, 2, timeout)
	select {
	case <-swallowed:
	default:
		t.Fatal("the produce request never reached the broker")
	}

	if err := s.SendLikes(context.Background(), idB, 1); err != nil {
		t.Fatalf("SendLikes after the broker recovered: %v", err)
	}
	got := countByKey(t, testkit.ReadAll(t, c.ListenAddrs(), DefaultTopic))
	if got[idA] != 0 || got[idB] != 2 {
		t.Fatalf("records by key = %v, want none of %s and 2 of %s", got, idA, idB)
	}
}

// Likes that failed while no broker was listening are not sent once one is.
func TestUnreachableBrokerFailedLikesAreNotSentLater(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	const timeout = time.Second
	s := newSink(t, []string{l.Addr().String()}, timeout)
	sendExpectUnavailable(t, s, idA, 2, timeout)

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, DefaultTopic), kfake.Ports(port))
	if err != nil {
		t.Skipf("cannot listen on port %d again: %v", port, err)
	}
	t.Cleanup(c.Close)
	// The client backs off between connection attempts, so the first calls
	// may still fail; their likes may or may not be stored, idA's may not.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.SendLikes(context.Background(), idB, 1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker never became usable: %v", err)
		}
	}
	got := countByKey(t, testkit.ReadAll(t, c.ListenAddrs(), DefaultTopic))
	if got[idA] != 0 || got[idB] < 1 {
		t.Fatalf("records by key = %v, want none of %s and some of %s", got, idA, idB)
	}
}

func TestSendLikesAfterClose(t *testing.T) {
	c := ingesttest.NewCluster(t, 1, []string{DefaultTopic})
	s := newSink(t, c.ListenAddrs(), time.Second)
	s.Close()
	s.Close() // idempotent
	sendExpectUnavailable(t, s, idA, 1, time.Second)
}

func TestSendLikesRejectsBadInput(t *testing.T) {
	s := newSink(t, []string{"127.0.0.1:1"}, time.Second)
	for _, tc := range []struct {
		id string
		n  int
	}{{idA, 0}, {idA, -1}, {"", 1}, {"a/b", 1}} {
		err := s.SendLikes(context.Background(), tc.id, tc.n)
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("SendLikes(%q, %d) = %v, want a non-availability error", tc.id, tc.n, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SendLikes(ctx, idA, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("SendLikes with a canceled context = %v", err)
	}
}

func TestNewKafkaSinkConfig(t *testing.T) {
	for _, cfg := range []SinkConfig{{}, {Brokers: []string{"x:1"}, Timeout: -1}, {Brokers: []string{"x:1"}, Linger: -1}} {
		if _, err := NewKafkaSink(cfg); err == nil {
			t.Errorf("NewKafkaSink(%+v) accepted", cfg)
		}
	}
	short, err := NewKafkaSink(SinkConfig{Brokers: []string{"127.0.0.1:1"}, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("short timeout: %v", err)
	}
	short.Close()
	s, err := NewKafkaSink(SinkConfig{Brokers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.timeout != DefaultTimeout || s.grace+s.deadlines.delay != DefaultTimeout {
		t.Errorf("timeout %v, grace %v, delivery %v", s.timeout, s.grace, s.deadlines.delay)
	}
	if got := s.cl.OptValue(kgo.ProducerLinger); got != DefaultLinger {
		t.Errorf("linger %v, want DefaultLinger %v", got, DefaultLinger)
	}
}

func TestSetIdempotencyHeaders(t *testing.T) {
	for _, n := range []int{1, 9, 10, 11, 99, 100, 101, 1000, 10000} {
		records := make([]kgo.Record, n)
		setIdempotencyHeaders(records, []byte("key-1"))
		total := 0
		for i, r := range records {
			want := strconv.Itoa(i)
			total += len(want)
			if len(r.Headers) != 2 || r.Headers[0].Key != record.IdempotencyKeyHeader || string(r.Headers[0].Value) != "key-1" ||
				r.Headers[1].Key != record.SeqHeader || string(r.Headers[1].Value) != want {
				t.Fatalf("n=%d: record %d has headers %v", n, i, r.Headers)
			}
			// The shared slices are capped: growing one record's header
			// or value cannot overwrite the next record's.
			if cap(r.Headers) != 2 || cap(r.Headers[1].Value) != len(want) {
				t.Fatalf("n=%d: record %d: headers cap %d, seq cap %d", n, i, cap(r.Headers), cap(r.Headers[1].Value))
			}
		}
		if d := seqDigits(n); d != total {
			t.Errorf("seqDigits(%d) = %d, want %d", n, d, total)
		}
	}
}

func BenchmarkSendLikes(b *testing.B) {
	c := ingesttest.NewCluster(b, 3, []string{DefaultTopic}, kfake.BlackholeProduce())
	s, err := NewKafkaSink(SinkConfig{Brokers: c.ListenAddrs(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.SendLikes(context.Background(), idA, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
