// Package worker is the stream worker: it re-keys likes from the ingestion
// topic by video id, counts them per tumbling window in a local Pebble store
// backed by a compacted changelog, and writes window counts to the output
// topics, all in one Kafka transaction per commit interval (exactly once).
//
// One consumer group reads both the ingestion topic (the re-keying stage:
// "sources") and the partitioned topic (the counting stage: "tasks"); a
// worker owns some partitions of each. The counting decisions are
// package task's; see "Windows, watermarks and late likes" in the README
// for the watermark protocol that closes windows.
package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Config configures one worker.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Group is the consumer group of all workers.
	Group string
	// ID names this worker: it completes the transactional id, so it must
	// be unique in the group and stable across restarts (a restarted worker
	// with the same ID aborts its predecessor's open transaction at once).
	ID string
	// InstanceID enables static group membership when not empty.
	InstanceID string
	// StateDir holds the worker's Pebble database.
	StateDir string
	// Policy is the windowing configuration.
	Policy window.Policy
	// CommitInterval is how long one transaction collects records.
	CommitInterval time.Duration
	// MaxFuture is how far ahead of the worker's clock a like's timestamp
	// may be; likes further ahead go to the dead-letter topic (reason
	// "future").
	MaxFuture time.Duration
	// DemoInterval, when positive, makes the owner of partition 0 of the
	// partitioned topic send one demo like per interval.
	DemoInterval time.Duration
	// IdempotencyWindow is how long (in event time) a worker remembers the
	// Idempotency-Key of API likes: a retry within it is not counted again.
	IdempotencyWindow time.Duration
	// StandbyReplicas is how many other workers keep a warm copy of each
	// partition's state (capped at the number of workers minus one); 0
	// disables standbys.
	StandbyReplicas int
	// CacheKeys is how many counts of recent windows the worker keeps in
	// memory besides the store, to count and close windows without store
	// reads (about 80 bytes each with 36-byte ids); 0 disables the cache.
	CacheKeys int
	// CheckpointInterval is how often the counts committed by
	// transactions are written to the store (see pending.go); 0 means
	// DefaultCheckpointInterval. A crashed worker's partitions replay up to
	// this much more changelog.
	CheckpointInterval time.Duration
	// MinFreeDisk is the free space kept on the state dir's filesystem:
	// below it, the store refuses writes and the worker stops with a clear
	// error (diskspace.LowError, Permanent) before Pebble meets ENOSPC.
	// 0 disables the reserve.
	MinFreeDisk uint64
	// FreeSpace reads a directory's free space (diskspace.Free when nil);
	// tests replace it.
	FreeSpace func(dir string) (uint64, error)
	// SessionTimeout bounds how long a dead worker keeps its partitions.
	SessionTimeout time.Duration
	// TransactionTimeout bounds how long a crashed worker's open
	// transaction blocks read_committed readers.
	TransactionTimeout time.Duration
	// Logger receives the worker's logs.
	Logger *slog.Logger
	// Metrics, when set, are used instead of new ones registered in
	// Registerer (a worker restarted in the same process reuses them).
	Metrics *Metrics
	// Registerer receives the worker's metrics when Metrics is nil.
	Registerer prometheus.Registerer
}

// DefaultConfig returns a configuration with every default set: what the
// flags of counter worker default to. The caller sets Brokers, ID, StateDir
// and Policy, and whatever else it changes.
func DefaultConfig() Config {
	return Config{
		Group:              DefaultGroup,
		CommitInterval:     DefaultCommitInterval,
		MaxFuture:          DefaultMaxFuture,
		IdempotencyWindow:  DefaultIdempotencyWindow,
		StandbyReplicas:    DefaultStandbyReplicas,
		CacheKeys:          DefaultCacheKeys,
		CheckpointInterval: DefaultCheckpointInterval,
		SessionTimeout:     DefaultSessionTimeout,
		TransactionTimeout: DefaultTransactionTimeout,
	}
}

// Defaults of the fields. New also takes a zero duration (or Group) to mean
// its default.
const (
	DefaultGroup              = topics.WorkersGroup
	DefaultCommitInterval     = 100 * time.Millisecond
	DefaultMaxFuture          = time.Minute
	DefaultIdempotencyWindow  = 24 * time.Hour
	DefaultSessionTimeout     = 10 * time.Second
	DefaultTransactionTimeout = 20 * time.Second
	DefaultCacheKeys          = 1 << 20
	DefaultCheckpointInterval = 5 * time.Second
	DefaultStandbyReplicas    = 1
)

func (c *Config) fill() error {
	if len(c.Brokers) == 0 {
		return errors.New("no brokers")
	}
	if c.ID == "" {
		return errors.New("worker ID is empty")
	}
	if c.StateDir == "" {
		return errors.New("state directory is empty")
	}
	if len(c.Policy.Sizes) == 0 {
		return errors.New("no window sizes")
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.MaxFuture <= 0 {
		c.MaxFuture = DefaultMaxFuture
	}
	if c.IdempotencyWindow <= 0 {
		c.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if c.CacheKeys < 0 {
		return errors.New("negative CacheKeys")
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.TransactionTimeout < 10*c.CommitInterval {
		return fmt.Errorf("transaction timeout %v must be at least 10 commit intervals (%v)", c.TransactionTimeout, c.CommitInterval)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		if c.Registerer == nil {
			c.Registerer = prometheus.NewRegistry()
		}
		c.Metrics = NewMetrics(c.Registerer)
	}
	return nil
}
