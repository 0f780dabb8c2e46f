package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// StateConfig configures the restore and memory scenarios.
type StateConfig struct {
	Options
	// Keys is the number of distinct (video, window) keys of the state.
	Keys int
	// Settle is how long a restored worker runs before its memory is read
	// (memory scenario).
	Settle time.Duration
}

func (cfg *StateConfig) check() error {
	if err := cfg.Options.check(); err != nil {
		return err
	}
	if cfg.Keys < 1 || cfg.Keys > 1e9 {
		return invalid("keys %d: want 1 to 1e9", cfg.Keys)
	}
	if cfg.Settle < 0 {
		return invalid("settle %v is negative", cfg.Settle)
	}
	return nil
}

// readyTimeout bounds how long a worker may take to restore keys.
func readyTimeout(keys int) time.Duration {
	return 2*time.Minute + time.Duration(keys/10000)*time.Second
}

// Restore runs the restore scenario: per run, it writes the changelog of a
// state of Keys keys to a fresh broker, reads it with a plain read_committed
// consumer (the baseline), then starts a worker as a child process with an
// empty state directory and measures how fast it restores the changelog
// and its peak resident memory. The worker must replay every record.
func Restore(ctx context.Context, cfg StateConfig) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	rep := &Report{Scenario: "restore", Machine: ThisMachine(), Params: map[string]string{
		"keys": itoa(cfg.Keys), "partitions": itoa(cfg.Partitions), "runs": itoa(cfg.Runs), "windows": "1m,5m,10m",
	}}
	s := newSeries()
	for run := range cfg.Runs {
		if err := restoreRun(ctx, cfg, run, s); err != nil {
			return nil, fmt.Errorf("restore run %d: %w", run+1, err)
		}
	}
	rep.Figures = append(rep.Figures,
		s.figure("restore", "plain consumer of the changelog (baseline)", "≥ 500K"),
		s.baseline("plain consumer of the changelog (baseline)"),
		s.figure("worker CPU time per key", "", ""),
		s.figure("CPU taken by other processes", "", ""),
		s.figure("restore peak RSS (VmHWM)", "", "< 1 GiB at 10M keys"),
		s.figure("worker start to ready", "", ""),
		s.figure("state build (producer)", "", ""))
	rep.Notes = append(rep.Notes, "restore: from the first partition's restore to the last partition ready, per the worker's logs; the worker is a child process (counter worker) with an empty state directory; its CPU time counts from its start")
	return rep, nil
}

func restoreRun(ctx context.Context, cfg StateConfig, run int, s *series) error {
	c, err := startCluster(ctx, cfg.Options)
	if err != nil {
		return err
	}
	defer c.close()
	cfg.Logger.Info("bench: writing the changelog of the state", "keys", cfg.Keys, "run", run+1)
	build, err := buildState(ctx, c, cfg.Keys, cfg.Options)
	if err != nil {
		return err
	}
	cfg.Logger.Info("bench: reading it with a plain consumer (baseline)")
	base, err := readChangelog(ctx, c, int64(cfg.Keys))
	if err != nil {
		return err
	}
	cfg.Logger.Info("bench: restoring it in a fresh worker process")
	started, cpu := time.Now(), startCPU()
	ch, err := startChild(cfg.Options, c, fmt.Sprintf("restore-%d", run))
	if err != nil {
		return err
	}
	defer ch.stop()
	replayed, took, err := ch.waitReady(ctx, int(c.layout[topics.Partitioned]), readyTimeout(cfg.Keys))
	if err != nil {
		return err
	}
	toReady := time.Since(started)
	_, others := cpu.cores()
	_, peak, err := ch.memory()
	if err != nil {
		return err
	}
	childCPU, err := ch.cpuTime()
	if err != nil {
		return err
	}
	others = max(0, others-childCPU.Seconds()/toReady.Seconds())
	if replayed != int64(cfg.Keys) {
		return fmt.Errorf("worker replayed %d changelog records, want %d", replayed, cfg.Keys)
	}
	cfg.Logger.Info("bench: restored", "keys_per_s", int(float64(cfg.Keys)/took.Seconds()), "took", took.Round(time.Millisecond),
		"peak_rss_mib", peak>>20)
	s.add("restore", "keys/s", float64(cfg.Keys)/took.Seconds())
	s.add("plain consumer of the changelog (baseline)", "records/s", float64(cfg.Keys)/base.Seconds())
	s.add("worker CPU time per key", "µs", childCPU.Seconds()/float64(cfg.Keys)*1e6)
	s.add("CPU taken by other processes", "cores", others)
	s.add("restore peak RSS (VmHWM)", "MiB", float64(peak)/(1<<20))
	s.add("worker start to ready", "s", toReady.Seconds())
	s.add("state build (producer)", "records/s", float64(cfg.Keys)/build.Seconds())
	if run == 0 && cfg.ProfileDir != "" {
		return profileRestore(ctx, c, cfg.Options)
	}
	return nil
}

// readChangelog reads the n records of the changelog with a plain
// read_committed consumer and returns how long it took.
func readChangelog(ctx context.Context, c *cluster, n int64) (time.Duration, error) {
	ends, err := c.stableEnds(ctx, topics.Changelog)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	var read int64
	err = consume(ctx, c.brokers, map[string]map[int32]int64{topics.Changelog: ends}, func(*kgo.Record) { read++ })
	took := time.Since(start)
	if err == nil && read != n {
		err = fmt.Errorf("read %d changelog records, want %d", read, n)
	}
	return took, err
}
