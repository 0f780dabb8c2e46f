// Package ingest produces likes to the Kafka ingestion topic: one record per
// like, key and value the video identifier.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

// DefaultTopic is the ingestion topic of the original system.
const DefaultTopic = "video_clicks_ingestion"

// DefaultTimeout bounds SendLikes when SinkConfig.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// DefaultLinger is the producer's linger when SinkConfig.Linger is zero: a
// like waits at most this long for the likes of concurrent requests to join
// its produce request. Fewer, larger produce requests cost the client and the
// broker less CPU per like; under load this more than makes up for the wait
// (see BENCHMARKS.md, Ingest).
const DefaultLinger = 250 * time.Microsecond

// ErrUnavailable is wrapped by the errors of SendLikes when the broker did
// not acknowledge every like in time: it is unreachable, too slow, refuses
// the records, or the sink is closed. Retrying later may succeed.
var ErrUnavailable = errors.New("broker unavailable")

// SinkConfig configures a KafkaSink.
type SinkConfig struct {
	// Brokers are the seed brokers, host:port. At least one is required.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Topic receives the likes; DefaultTopic if empty.
	Topic string
	// Timeout bounds each SendLikes call; DefaultTimeout if zero.
	Timeout time.Duration
	// Linger is how long the producer waits for more records before
	// sending a batch; DefaultLinger if zero. Records that arrive while
	// requests are in flight are batched together too.
	Linger time.Duration
	// Logger receives the Kafka client's warnings; slog.Default() if nil.
	Logger *slog.Logger
}

// KafkaSink produces likes to a Kafka topic with an idempotent producer
// (acks=all) and reports, per call, whether the broker acknowledged them.
// It is safe for concurrent use; callers do not wait for each other.
type KafkaSink struct {
	cl        *kgo.Client
	log       *slog.Logger
	timeout   time.Duration
	grace     time.Duration // end of timeout, to collect outcomes after the deadline
	deadlines *deadlines    // delivery deadlines, timeout-grace after each call
	closeOnce sync.Once
}

// NewKafkaSink returns a sink producing to cfg.Topic. It does not contact
// the brokers: a broker that is down only makes SendLikes fail.
func NewKafkaSink(cfg SinkConfig) (*KafkaSink, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("ingest: no Kafka brokers given")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 || cfg.Linger < 0 {
		return nil, fmt.Errorf("ingest: negative timeout %v or linger %v", cfg.Timeout, cfg.Linger)
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Within grace after their deadline, the producer reports records
	// canceled in flight; see wait.
	grace := min(cfg.Timeout/5, 250*time.Millisecond)
	delivery := cfg.Timeout - grace
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts,
		kgo.ClientID("counter-ingest"),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(cfg.Linger),
		// Kafka's default placement of keyed records, hashing each
		// request's key once rather than once per like.
		kgo.RecordPartitioner(keyPartitioner{}),
		kgo.ProduceRequestTimeout(max(delivery, 100*time.Millisecond)), // kgo's minimum
		// When a record's context expires, fail it even if a request
		// carrying it is in flight (kgo then cancels that request and
		// bumps the producer epoch), instead of retrying it after the
		// caller was told it failed. See SendLikes.
		kgo.AllowIdempotentProduceCancellation(),
		// While brokers are unreachable, each failed metadata refresh
		// fails the buffered records past their deadline: refresh every
		// second rather than every 5s, which also reconnects sooner.
		kgo.MetadataMinAge(time.Second),
		kgo.WithLogger(kafkalog.New(cfg.Logger)),
	)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &KafkaSink{
		cl:        cl,
		log:       cfg.Logger,
		timeout:   cfg.Timeout,
		grace:     grace,
		deadlines: newDeadlines(delivery),
	}, nil
}

// SendLikes produces n likes for videoID (n records, key and value the
// identifier, timestamp now) and returns nil once the broker acknowledged
// all of them. Otherwise it returns, within the sink's Timeout, an error
// that wraps ErrUnavailable and tells how many likes were not acknowledged.
//
// A like that is reported failed is not sent afterwards: at its delivery
// deadline the producer drops it, and cancels a request in flight that
// carries it. Only if the broker had already received that request may the
// like be counted although the call failed, so a client that retries after
// an error gets at-least-once delivery.
//
// ctx is only checked before producing: once the records are handed to the
// producer, SendLikes waits for their outcome rather than leave them in
// flight. videoID must be a valid identifier (see package videoid).
func (s *KafkaSink) SendLikes(ctx context.Context, videoID string, n int) error {
	return s.Send(ctx, Likes{VideoID: videoID, Count: n, Time: time.Now()})
}

// Likes are the likes of one request.
type Likes struct {
	VideoID string
	Count   int
	// Time is the event time of every like (the record timestamp).
	Time time.Time
	// IdempotencyKey, when not empty, goes with each like, with its index
	// 0..Count-1, so that the workers count a retried request only once.
	IdempotencyKey string
}

// Send is SendLikes for l: same guarantees, with l's time and idempotency
// key.
func (s *KafkaSink) Send(ctx context.Context, l Likes) error {
	videoID, n, now := l.VideoID, l.Count, l.Time
	if n < 1 {
		return fmt.Errorf("ingest: like count %d, want at least 1", n)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ingest: likes not sent: %w", err)
	}
	id := []byte(videoID) // shared by all records as key and value
	if err := videoid.Validate(id); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if now.IsZero() {
		now = time.Now()
	}
	deadline := s.deadlines.get(time.Now())
	w := getWaiter(n)
	records := make([]kgo.Record, n)
	for i := range records {
		records[i] = kgo.Record{Key: id, Value: id, Timestamp: now}
	}
	if l.IdempotencyKey != "" {
		setIdempotencyHeaders(records, []byte(l.IdempotencyKey))
	}
	for i := range records {
		s.cl.Produce(deadline, &records[i], w.promise)
	}
	return s.wait(w, deadline, n)
}

// setIdempotencyHeaders gives record i of records the headers of an
// idempotent request: the key, and i as its sequence number. All headers
// and all sequence numbers share two allocations.
func setIdempotencyHeaders(records []kgo.Record, key []byte) {
	n := len(records)
	headers := make([]kgo.RecordHeader, 2*n)
	seqs := make([]byte, 0, seqDigits(n))
	for i := range records {
		start := len(seqs)
		seqs = strconv.AppendInt(seqs, int64(i), 10)
		h := headers[2*i : 2*i+2 : 2*i+2]
		h[0] = kgo.RecordHeader{Key: record.IdempotencyKeyHeader, Value: key}
		h[1] = kgo.RecordHeader{Key: record.SeqHeader, Value: seqs[start:len(seqs):len(seqs)]}
		records[i].Headers = h
	}
}

// seqDigits returns the number of decimal digits of 0, 1, ..., n-1 together.
func seqDigits(n int) int {
	total := 0
	for low, high, digits := 0, 10, 1; low < n; low, high, digits = high, high*10, digits+1 {
		total += (min(n, high) - low) * digits
	}
	return total
}

// wait returns once every record of w has an outcome, or grace after the
// delivery deadline. The producer never writes a record after its deadline
// (it checks before every write), but it may report the failure of a
// buffered record only at its next attempt to send: waiting longer would
// tell the caller nothing more.
func (s *KafkaSink) wait(w *waiter, deadline context.Context, n int) error {
	select {
	case <-w.done:
	case <-deadline.Done():
		t := time.NewTimer(s.grace)
		defer t.Stop()
		select {
		case <-w.done:
		case <-t.C:
			// Outcomes still arrive later, so w is not recycled.
			return fmt.Errorf("%w: %d of %d likes not acknowledged within %v", ErrUnavailable, w.pending.Load()+w.failed.Load(), n, s.timeout)
		}
	}
	failed, err := w.result()
	putWaiter(w)
	if err != nil {
		return fmt.Errorf("%w: %d of %d likes not acknowledged: %w", ErrUnavailable, failed, n, err)
	}
	return nil
}

// Close sends what is buffered, waiting at most Timeout, then closes the
// client: likes still pending fail with ErrUnavailable. Calls of SendLikes
// after Close fail. Close is idempotent.
func (s *KafkaSink) Close() {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := s.cl.Flush(ctx); err != nil {
			s.log.Warn("ingest: likes still buffered at close are dropped", "err", err)
		}
		s.cl.Close()
	})
}
