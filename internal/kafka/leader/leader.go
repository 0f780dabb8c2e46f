// Package leader elects one process among many through a Kafka consumer
// group: the members subscribe to a topic of one partition, and the member
// the group assigns partition 0 to is the leader. Kafka's group protocol
// does the rest: when the leader leaves, the partition goes to another
// member at once; when it dies, after its session timeout.
//
// Leadership is advisory: a leader cut off from the coordinator keeps
// believing it leads until its own session expires, possibly after another
// member was elected. What the leader does must therefore be safe to do
// twice for a moment (the like generator sends idempotent likes).
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/kafka/topiccreate"
)

// DefaultSessionTimeout is how long a dead leader keeps the leadership.
const DefaultSessionTimeout = 6 * time.Second

// Config configures an election.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Group is the consumer group of the candidates.
	Group string
	// Topic is the election topic, created with one partition when
	// missing. Nothing is written to it.
	Topic string
	// Replication is its replication factor when created (1 if zero).
	Replication int16
	// SessionTimeout is how long a dead leader keeps the leadership;
	// DefaultSessionTimeout if zero.
	SessionTimeout time.Duration
	// Logger receives the election's logs; slog.Default() if nil.
	Logger *slog.Logger
}

// Run takes part in the election until ctx ends. Whenever this process
// becomes the leader it calls lead in a new goroutine, with a context that
// is canceled when the leadership is lost; a revocation waits for lead to
// return, so that in an orderly handover the next leader starts after this
// one stopped. Run returns ctx's error after leaving the group, or an error
// if the election cannot start.
func Run(ctx context.Context, cfg Config, lead func(context.Context)) error {
	if len(cfg.Brokers) == 0 || cfg.Group == "" || cfg.Topic == "" || lead == nil {
		return errors.New("leader: brokers, group, topic and lead are required")
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.Replication < 1 {
		cfg.Replication = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "leader", "group", cfg.Group)
	if err := ensureTopic(ctx, cfg); err != nil {
		return err
	}
	t := &term{ctx: ctx, lead: lead, log: log}
	owns0 := func(m map[string][]int32) bool { return slices.Contains(m[cfg.Topic], 0) }
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts,
		kgo.WithLogger(kafkalog.New(log)),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(max(cfg.SessionTimeout/3, 100*time.Millisecond)),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns0(m) {
				t.start()
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns0(m) {
				t.stop("revoked")
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns0(m) {
				t.stop("lost")
			}
		}),
	)
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	// Polling keeps the member in the group; the topic stays empty.
	for ctx.Err() == nil {
		cl.PollFetches(ctx)
	}
	cl.Close() // leaves the group: the revocation stops lead
	t.stop("closed")
	return ctx.Err()
}

func ensureTopic(ctx context.Context, cfg Config) error {
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts, kgo.WithLogger(kafkalog.New(cfg.Logger)))
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	defer cl.Close()
	if err := topiccreate.IfMissing(ctx, kadm.NewClient(cl), cfg.Topic, 1, cfg.Replication, nil); err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	return nil
}

// term is the current leadership, if any.
type term struct {
	ctx  context.Context
	lead func(context.Context)
	log  *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func (t *term) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	done := make(chan struct{})
	t.cancel, t.done = cancel, done
	t.log.Info("elected leader")
	go func() {
		defer close(done)
		t.lead(ctx)
	}()
}

func (t *term) stop(why string) {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.cancel, t.done = nil, nil
	t.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	t.log.Info("leadership ended", "why", why)
}
