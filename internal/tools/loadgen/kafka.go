package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
)

// KafkaConfig configures a run that produces likes straight into Kafka, one
// record per like (value the video id), as the API or the original
// producers do.
type KafkaConfig struct {
	// Brokers are the seed brokers; Topic receives the likes.
	Brokers []string
	Topic   string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Keyed sets the key to the video id, as the API does; unkeyed records
	// are what the original producers sent.
	Keyed bool
	// Rate is the most likes per second; 0 produces as fast as the
	// producer's buffer drains.
	Rate float64
	// Count likes of one video are produced together (one "request",
	// acknowledged when all its records are).
	Count int
	// Duration bounds the run; MaxLikes, when positive, too.
	Duration time.Duration
	MaxLikes int64
	// IDs are the videos, drawn by Distribution with Seed.
	IDs          []string
	Distribution Distribution
	Seed         uint64
	// Logger receives the Kafka client's warnings.
	Logger *slog.Logger
}

// RunKafka produces likes until the duration or count is reached or ctx
// ends, then waits (at most 10 s) for the outstanding acknowledgements.
// Failed records are counted in s; the error is for a configuration or
// client that does not work at all.
func RunKafka(ctx context.Context, cfg KafkaConfig, s *Stats) (Result, error) {
	if cfg.Duration <= 0 || cfg.Count < 1 || len(cfg.IDs) == 0 || cfg.Topic == "" || cfg.Rate < 0 {
		return Result{}, errors.New("loadgen: need a positive duration and count, ids, a topic and a rate >= 0")
	}
	pick, err := NewPicker(cfg.Distribution, len(cfg.IDs), cfg.Seed)
	if err != nil {
		return Result{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts, kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ClientID("counter-load"), kgo.WithLogger(kafkalog.New(cfg.Logger)))
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	ids := make([][]byte, len(cfg.IDs))
	for i, id := range cfg.IDs {
		ids[i] = []byte(id)
	}
	promise := func(r *kgo.Record, err error) {
		b := r.Context.Value(batchKey{}).(*batch)
		if err != nil {
			s.fail("kafka: " + err.Error())
			b.failed.Store(true)
		} else {
			s.Acked.Add(1)
		}
		if b.pending.Add(-1) == 0 && !b.failed.Load() {
			s.Latency.Record(time.Since(b.sent))
			s.Requests.Add(1)
		}
	}
	start := time.Now()
	var rate float64
	if cfg.Rate > 0 {
		rate = cfg.Rate / float64(cfg.Count)
	}
	var maxBatches int64
	if cfg.MaxLikes > 0 {
		maxBatches = (cfg.MaxLikes + int64(cfg.Count) - 1) / int64(cfg.Count)
	}
	p := newPacer(start, rate, cfg.Duration, maxBatches)
	for p.take(ctx) {
		id := ids[pick.Next()]
		now := time.Now()
		b := &batch{sent: now}
		b.pending.Store(int32(cfg.Count))
		rctx := context.WithValue(ctx, batchKey{}, b)
		for range cfg.Count {
			r := &kgo.Record{Value: id, Timestamp: now, Context: rctx}
			if cfg.Keyed {
				r.Key = id
			}
			s.Sent.Add(1)
			cl.Produce(rctx, r, promise)
		}
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		cfg.Logger.Warn("load: likes still unacknowledged at the end", "err", err)
	}
	elapsed := time.Since(start)
	cl.Close() // fails what is still buffered, so that it is counted
	return s.Result(elapsed), nil
}

// batch is the likes of one video produced together: a "request", done
// when all its records are acknowledged.
type batch struct {
	sent    time.Time
	pending atomic.Int32
	failed  atomic.Bool
}

// batchKey is the record context key of a record's batch.
type batchKey struct{}
