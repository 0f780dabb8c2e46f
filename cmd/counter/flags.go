package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/disk/diskspace"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/worker"
)

// topicFlags configure the window sizes and the topics; every role takes
// them so that whichever starts first creates the topics right.
type topicFlags struct {
	windows     []string
	partitions  int
	replication int
	minInsync   int
}

func (p *topicFlags) register(fs *cli.FlagSet) {
	fs.ListVar(&p.windows, "windows", []string{"1m", "5m", "10m"}, "tumbling window sizes, comma-separated (Go durations: 1m, 2s, 1500ms)")
	fs.IntVar(&p.partitions, "partitions", 6, "partitions of topics created at start-up")
	fs.IntVar(&p.replication, "replication-factor", 0, "replication factor of topics created at start-up; 0 decides from the cluster: 3 with at least 3 brokers, else 1")
	fs.IntVar(&p.minInsync, "min-insync-replicas", 0, "min.insync.replicas of topics created at start-up; 0 decides from the replication factor: 2 from 3 on, else the broker's default")
}

func (p *topicFlags) sizes() ([]window.Size, error) {
	sizes, err := window.ParseSizes(p.windows)
	if err != nil {
		return nil, cli.UsageError{Err: fmt.Errorf("--windows: %w", err)}
	}
	return sizes, nil
}

func (p *topicFlags) spec() (topics.Spec, error) {
	if p.partitions < 1 || p.partitions > 10000 {
		return topics.Spec{}, cli.UsageError{Err: fmt.Errorf("--partitions %d: want 1 to 10000", p.partitions)}
	}
	if p.replication < 0 || p.replication > 32767 {
		return topics.Spec{}, cli.UsageError{Err: fmt.Errorf("--replication-factor %d: want 0 (from the cluster) or more", p.replication)}
	}
	if p.minInsync < 0 || p.minInsync > 32767 {
		return topics.Spec{}, cli.UsageError{Err: fmt.Errorf("--min-insync-replicas %d: want 0 (from the replication factor) or more", p.minInsync)}
	}
	if p.replication > 0 && p.minInsync > p.replication {
		return topics.Spec{}, cli.UsageError{Err: fmt.Errorf("--min-insync-replicas %d exceeds --replication-factor %d: no write could be acknowledged", p.minInsync, p.replication)}
	}
	return topics.Spec{Partitions: int32(p.partitions), Replication: int16(p.replication), MinInsyncReplicas: int16(p.minInsync)}, nil
}

// check returns the window sizes and the topic spec of the flags.
func (p *topicFlags) check() ([]window.Size, topics.Spec, error) {
	sizes, err := p.sizes()
	if err != nil {
		return nil, topics.Spec{}, err
	}
	spec, err := p.spec()
	return sizes, spec, err
}

// countFlags configure how workers count.
type countFlags struct {
	topicFlags
	grace          time.Duration
	retention      time.Duration
	commitInterval time.Duration
	maxFuture      time.Duration
	idempotency    time.Duration
	standbys       int
	cacheKeys      int
	checkpoint     time.Duration
}

func (p *countFlags) register(fs *cli.FlagSet) {
	p.topicFlags.register(fs)
	fs.DurationVar(&p.grace, "grace", window.DefaultGrace, "how long after its end a window still accepts likes")
	fs.DurationVar(&p.retention, "retention", 0, "how long the state of a closed window is kept (0: twice the largest window)")
	fs.DurationVar(&p.commitInterval, "commit-interval", worker.DefaultCommitInterval, "how long one transaction collects likes: bounds output latency")
	fs.DurationVar(&p.maxFuture, "max-future", worker.DefaultMaxFuture, "likes stamped further ahead of the worker clock go to the dead-letter topic (reason future)")
	fs.IntVar(&p.standbys, "standby-replicas", worker.DefaultStandbyReplicas, "other workers keeping a warm copy of each partition's state (0 disables; none with a single worker)")
	fs.DurationVar(&p.checkpoint, "checkpoint-interval", worker.DefaultCheckpointInterval, "how often committed counts are written to the local store (a crash replays up to this much more changelog)")
	fs.IntVar(&p.cacheKeys, "cache-keys", worker.DefaultCacheKeys, "window counts each worker also keeps in memory to count without store reads (~80 B each; 0 disables)")
	fs.DurationVar(&p.idempotency, "idempotency-window", worker.DefaultIdempotencyWindow, "how long a retried request with the same Idempotency-Key is recognized (event time)")
}

// workerConfig returns the configuration of worker id: the defaults of
// worker.DefaultConfig with what the flags set. Both counter worker and
// counter dev build their workers' configurations here.
func (p *countFlags) workerConfig(cluster kafkaconn.Cluster, id, stateDir string, pol window.Policy) worker.Config {
	cfg := worker.DefaultConfig()
	cfg.Brokers, cfg.KafkaOpts, cfg.ID, cfg.StateDir, cfg.Policy = cluster.Brokers, cluster.Opts, id, stateDir, pol
	cfg.CommitInterval, cfg.MaxFuture, cfg.IdempotencyWindow = p.commitInterval, p.maxFuture, p.idempotency
	cfg.StandbyReplicas, cfg.CacheKeys, cfg.CheckpointInterval = p.standbys, p.cacheKeys, p.checkpoint
	return cfg
}

func (p *countFlags) policy() (window.Policy, error) {
	sizes, err := p.sizes()
	if err != nil {
		return window.Policy{}, err
	}
	if p.standbys < 0 {
		return window.Policy{}, cli.UsageError{Err: errors.New("--standby-replicas must not be negative")}
	}
	if p.checkpoint <= 0 {
		return window.Policy{}, cli.UsageError{Err: errors.New("--checkpoint-interval must be positive")}
	}
	if p.cacheKeys < 0 {
		return window.Policy{}, cli.UsageError{Err: errors.New("--cache-keys must not be negative")}
	}
	if p.retention < 0 || p.grace < 0 || p.commitInterval <= 0 || p.maxFuture <= 0 || p.idempotency <= 0 {
		return window.Policy{}, cli.UsageError{Err: errors.New("--grace and --retention must not be negative; --commit-interval, --max-future and --idempotency-window must be positive")}
	}
	pol, err := window.NewPolicy(sizes, p.grace, p.retention)
	if err != nil {
		return window.Policy{}, cli.UsageError{Err: err}
	}
	return pol, nil
}

// minFreeDisk registers --min-free-disk, the free space kept on the
// filesystem of the process's data (see internal/disk/diskspace).
func minFreeDisk(fs *cli.FlagSet) *cli.ByteSize {
	b := cli.ByteSize(diskspace.DefaultReserve)
	fs.Var(&b, "min-free-disk", "free space kept on the data's filesystem: below it, new records (broker) and state writes (worker) are refused and a worker stops with a clear error; 0 disables it")
	return &b
}
