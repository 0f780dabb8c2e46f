// Package kvlog keeps a small replicated table in a compacted Kafka topic of
// one partition. Every process reads the whole topic with a direct
// (group-less) consumer and applies its records in log order, so all of them
// see the same sequence of writes; Put appends a record and returns once the
// local reader has applied it, so a process reads its own writes.
//
// The owner of the table decides what records mean (see Config.Apply); with
// a single partition the log order is a total order every reader agrees on,
// which is enough to build deterministic decisions (first writer wins) on
// top of it.
package kvlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/kafka/topiccreate"
)

// Record is one record of the log. A nil Value is a tombstone.
type Record struct {
	Key, Value []byte    // the record's key and value
	Offset     int64     // its offset in the partition
	Time       time.Time // the record's timestamp
}

// Config configures a Log.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Topic is the compacted topic; it is created with one partition when
	// missing.
	Topic string
	// Replication is the replication factor used when creating the topic
	// (1 if zero).
	Replication int16
	// TopicConfigs are added to cleanup.policy=compact when creating the
	// topic.
	TopicConfigs map[string]string
	// Apply is called for every record, in log order, from a single
	// goroutine. It must not call Put or Wait.
	Apply func(Record)
	// Logger receives the log's warnings; slog.Default() if nil.
	Logger *slog.Logger
}

// Log is an open replicated log. Its methods are safe for concurrent use.
type Log struct {
	cfg    Config
	cl     *kgo.Client
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once

	mu      sync.Mutex
	applied int64         // every record below this offset has been applied
	advance chan struct{} // closed (and replaced) whenever applied grows
}

// ErrClosed is returned by the methods of a closed Log.
var ErrClosed = errors.New("kvlog: closed")

// Open creates the topic if needed, starts reading it from the start and
// returns once every record that existed at the time of the call has been
// applied, or fails when ctx ends first.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Apply == nil {
		return nil, errors.New("kvlog: brokers, topic and Apply are required")
	}
	if cfg.Replication < 1 {
		cfg.Replication = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("topic", cfg.Topic)
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts,
		kgo.WithLogger(kafkalog.New(log)),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records carry offsets too: seeing them lets the reader
		// tell it reached an end offset that a transaction marker ends.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("kvlog: %w", err)
	}
	end, err := ensure(ctx, kadm.NewClient(cl), cfg)
	if err != nil {
		cl.Close()
		return nil, err
	}
	tailCtx, cancel := context.WithCancel(context.Background())
	l := &Log{cfg: cfg, cl: cl, log: log, cancel: cancel, done: make(chan struct{}), advance: make(chan struct{})}
	go l.tail(tailCtx)
	if err := l.Wait(ctx, end); err != nil {
		l.Close()
		return nil, fmt.Errorf("kvlog: reading %s: %w", cfg.Topic, err)
	}
	return l, nil
}

// ensure creates the topic when missing and returns its end offset.
func ensure(ctx context.Context, adm *kadm.Client, cfg Config) (int64, error) {
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for k, v := range cfg.TopicConfigs {
		configs[k] = kadm.StringPtr(v)
	}
	if err := topiccreate.IfMissing(ctx, adm, cfg.Topic, 1, cfg.Replication, configs); err != nil {
		return 0, fmt.Errorf("kvlog: %w", err)
	}
	for {
		ends, err := adm.ListEndOffsets(ctx, cfg.Topic)
		if err == nil {
			if o, ok := ends.Lookup(cfg.Topic, 0); ok && o.Err == nil {
				return o.Offset, nil
			} else if ok {
				err = o.Err
			} else {
				err = errors.New("partition 0 missing")
			}
		}
		// A topic just created may take a moment to have a leader.
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("kvlog: end offset of %s: %w", cfg.Topic, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail applies the records of the topic as they come.
func (l *Log) tail(ctx context.Context) {
	defer close(l.done)
	var lastWarn time.Time
	for {
		fs := l.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if time.Since(lastWarn) > 10*time.Second {
				lastWarn = time.Now()
				l.log.Warn("kvlog: fetch failed; retrying", "partition", p, "err", err)
			}
		})
		next := int64(-1)
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				l.cfg.Apply(Record{Key: r.Key, Value: r.Value, Offset: r.Offset, Time: r.Timestamp})
			}
			next = r.Offset + 1
		})
		if next >= 0 {
			l.mu.Lock()
			if next > l.applied {
				l.applied = next
				close(l.advance)
				l.advance = make(chan struct{})
			}
			l.mu.Unlock()
		}
	}
}

// Wait returns once every record below offset has been applied, or ctx
// ends, or the log is closed.
func (l *Log) Wait(ctx context.Context, offset int64) error {
	for {
		l.mu.Lock()
		applied, advance := l.applied, l.advance
		l.mu.Unlock()
		if applied >= offset {
			return nil
		}
		select {
		case <-advance:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.done:
			return ErrClosed
		}
	}
}

// Put appends a record (a nil value is a tombstone) and returns its offset
// once the broker acknowledged it and the local reader applied it.
func (l *Log) Put(ctx context.Context, key, value []byte) (int64, error) {
	select {
	case <-l.done:
		return 0, ErrClosed
	default:
	}
	r, err := l.cl.ProduceSync(ctx, &kgo.Record{Key: key, Value: value}).First()
	if err != nil {
		return 0, fmt.Errorf("kvlog: writing to %s: %w", l.cfg.Topic, err)
	}
	if err := l.Wait(ctx, r.Offset+1); err != nil {
		return 0, fmt.Errorf("kvlog: reading back %s: %w", l.cfg.Topic, err)
	}
	return r.Offset, nil
}

// Close stops reading and closes the Kafka client. It is idempotent.
func (l *Log) Close() {
	l.closed.Do(func() {
		l.cancel()
		<-l.done
		l.cl.Close()
	})
}
