package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Defaults of Config.
const (
	// DefaultSettle: windows that closed less than this long ago are not
	// checked yet (the workers close a window shortly after its end plus
	// grace, and the API stamps a like before the broker has it).
	DefaultSettle = 10 * time.Second
	// DefaultCatchUpTimeout bounds the wait for the workers to process the
	// input present when the audit starts.
	DefaultCatchUpTimeout = 10 * time.Second
	// DefaultIdleTimeout: reading a topic fails when no record of an
	// unfinished partition arrives for this long.
	DefaultIdleTimeout = 10 * time.Second
)

// Config configures an audit against a Kafka cluster.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Sizes are the workers' window sizes: one output topic each.
	Sizes []window.Size
	// Grace is the workers' grace.
	Grace time.Duration
	// From: only windows that start at or after it are checked. When zero,
	// or earlier than the data the topics still hold, the start of the
	// retained data is used.
	From time.Time
	// To: only windows whose end plus grace is at or before it are
	// checked; never later than Settle before the audit.
	To time.Time
	// Settle is how long ago a window must have closed to be checked;
	// DefaultSettle if zero, none if negative.
	Settle time.Duration
	// Group is the workers' consumer group. When set, the audit first waits
	// (at most CatchUpTimeout, DefaultCatchUpTimeout if zero) until the
	// workers have processed the ingestion and partitioned records present
	// when it starts, so that their lag does not show as drift.
	Group          string
	CatchUpTimeout time.Duration
	// IdleTimeout bounds the wait for the next record of a topic being
	// read (DefaultIdleTimeout if zero).
	IdleTimeout time.Duration
	// Logger receives the Kafka client's logs; slog.Default() if nil.
	Logger *slog.Logger
}

// Run audits the cluster: it reads the dead-letter, ingestion and output
// topics read_committed up to their ends, recounts the windows and compares
// them with the finals. An error means the audit could not be done; drift
// is reported in the Result (see Result.OK).
func Run(ctx context.Context, cfg Config) (Result, error) {
	begin := time.Now()
	if len(cfg.Brokers) == 0 || len(cfg.Sizes) == 0 {
		return Result{}, errors.New("audit: brokers and window sizes are required")
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.CatchUpTimeout == 0 {
		cfg.CatchUpTimeout = DefaultCatchUpTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts, kgo.WithLogger(kafkalog.New(cfg.Logger)))
	if err != nil {
		return Result{}, fmt.Errorf("audit: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	outputs := map[string]int64{}
	names := []string{topics.DeadLetter, topics.Ingestion}
	for _, s := range cfg.Sizes {
		outputs[topics.Output(s)] = s.Millis
		names = append(names, topics.Output(s))
	}
	if _, err := topics.Describe(ctx, adm, names...); err != nil {
		return Result{}, fmt.Errorf("audit: %w", err)
	}
	var behind int64
	if cfg.Group != "" {
		if behind, err = waitForWorkers(ctx, adm, cfg.Group, cfg.CatchUpTimeout); err != nil {
			return Result{}, fmt.Errorf("audit: waiting for the workers: %w", err)
		}
	}
	at := time.Now()
	ends, err := adm.ListCommittedOffsets(ctx, names...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Result{}, fmt.Errorf("audit: listing end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Result{}, fmt.Errorf("audit: listing start offsets: %w", err)
	}

	rc := NewRecount(cfg.Sizes)
	retained := int64(math.MinInt64)
	// Dead letters first: the recount needs them before the likes.
	first, err := read(ctx, cfg, ends, starts, []string{topics.DeadLetter}, func(r Record) { rc.DeadLettered(r) })
	if err != nil {
		return Result{}, err
	}
	retained = max(retained, first)
	rest := append([]string{topics.Ingestion}, names[2:]...)
	first, err = read(ctx, cfg, ends, starts, rest, func(r Record) {
		if r.Topic == topics.Ingestion {
			rc.Ingested(r)
		} else {
			rc.Output(outputs[r.Topic], r)
		}
	})
	if err != nil {
		return Result{}, err
	}
	retained = max(retained, first)

	g := Range{From: retained, To: at.Add(-max(cfg.Settle, 0)).UnixMilli(), Grace: cfg.Grace.Milliseconds()}
	if !cfg.From.IsZero() {
		g.From = max(g.From, cfg.From.UnixMilli())
	}
	if !cfg.To.IsZero() {
		g.To = min(g.To, cfg.To.UnixMilli())
	}
	if g.From == math.MinInt64 {
		g.From = 0 // nothing was deleted: every window since the epoch
	}
	res := rc.Compare(g)
	res.At = at.UTC()
	res.WorkersBehind = behind
	res.TookMs = time.Since(begin).Milliseconds()
	return res, nil
}

// read reads names read_committed from their start offsets up to ends and
// passes every record to fn, each partition in offset order. It returns
// the latest timestamp of the first record of a partition whose log start
// is past 0 (older records were deleted), or math.MinInt64.
func read(ctx context.Context, cfg Config, ends, starts kadm.ListedOffsets, names []string, fn func(Record)) (int64, error) {
	first := int64(math.MinInt64)
	assign := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{}
	truncated := map[string]map[int32]bool{}
	for _, name := range names {
		for p, end := range ends[name] {
			start, ok := starts.Lookup(name, p)
			if !ok || end.Offset <= start.Offset {
				continue
			}
			if assign[name] == nil {
				assign[name], remaining[name], truncated[name] = map[int32]kgo.Offset{}, map[int32]int64{}, map[int32]bool{}
			}
			assign[name][p] = kgo.NewOffset().At(start.Offset)
			remaining[name][p] = end.Offset
			truncated[name][p] = start.Offset > 0
		}
	}
	if len(assign) == 0 {
		return first, nil
	}
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // their offsets tell when the end is reached
		kgo.ConsumePartitions(assign), kgo.WithLogger(kafkalog.New(cfg.Logger)))
	if err != nil {
		return first, fmt.Errorf("audit: %w", err)
	}
	defer cl.Close()
	left := 0
	for _, ps := range remaining {
		left += len(ps)
	}
	for left > 0 {
		pollCtx, cancel := context.WithTimeout(ctx, cfg.IdleTimeout)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return first, fmt.Errorf("audit: reading %v: %w", names, ctx.Err())
		}
		if fs.Empty() && pollCtx.Err() != nil {
			return first, fmt.Errorf("audit: reading %v: no record for %v; %d partitions unfinished", names, cfg.IdleTimeout, left)
		}
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
				return first, fmt.Errorf("audit: reading %s/%d: %w", e.Topic, e.Partition, e.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Topic][r.Partition]
			if !ok || r.Offset >= end {
				return // past the end taken at the start: not audited
			}
			if !r.Attrs.IsControl() {
				if truncated[r.Topic][r.Partition] {
					first = max(first, r.Timestamp.UnixMilli())
					truncated[r.Topic][r.Partition] = false
				}
				fn(convert(r))
			}
			if r.Offset+1 >= end {
				delete(remaining[r.Topic], r.Partition)
				left--
			}
		})
	}
	return first, nil
}

func convert(r *kgo.Record) Record {
	out := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Value: r.Value}
	if len(r.Headers) > 0 {
		out.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = Header{h.Key, h.Value}
		}
	}
	return out
}

// waitForWorkers waits until group has committed the offsets, first of the
// ingestion topic, then of the partitioned topic, that were the ends of
// these topics when the wait for each began, or until timeout. It returns
// how many records the workers were still behind. A group without any
// committed offset is not waited for.
func waitForWorkers(ctx context.Context, adm *kadm.Client, group string, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var behind int64
	for _, topic := range []string{topics.Ingestion, topics.Partitioned} {
		targets, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return 0, err
		}
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return 0, err
		}
		for {
			committed, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return 0, err
			}
			if len(committed) == 0 {
				return 0, nil // no workers (yet)
			}
			behind = 0
			targets.Each(func(o kadm.ListedOffset) {
				pos := int64(0)
				if s, ok := starts.Lookup(topic, o.Partition); ok {
					pos = s.Offset
				}
				if c, ok := committed.Lookup(topic, o.Partition); ok && c.Err == nil {
					pos = max(pos, c.At)
				}
				behind += max(o.Offset-pos, 0)
			})
			if behind == 0 {
				break
			}
			if time.Now().After(deadline) {
				return behind, nil
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-tick.C:
			}
		}
	}
	return behind, nil
}
