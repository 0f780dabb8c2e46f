package bench

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/worker"
)

// Memory runs the memory scenario: per run, on a fresh broker, a worker
// process with no state (the baseline), then a worker process that restored
// a state of Keys keys, each left running Settle before its resident memory
// is read.
func Memory(ctx context.Context, cfg StateConfig) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	rep := &Report{Scenario: "memory", Machine: ThisMachine(), Params: map[string]string{
		"keys": itoa(cfg.Keys), "partitions": itoa(cfg.Partitions), "runs": itoa(cfg.Runs),
		"settle": cfg.Settle.String(), "windows": "1m,5m,10m",
	}}
	s := newSeries()
	for run := range cfg.Runs {
		if err := memoryRun(ctx, cfg, run, s); err != nil {
			return nil, fmt.Errorf("memory run %d: %w", run+1, err)
		}
	}
	keys := fmt.Sprintf("worker RSS, %s keys", human(float64(cfg.Keys)))
	rep.Figures = append(rep.Figures,
		s.figure(keys, "idle worker RSS (baseline)", "< 1 GiB at 10M keys"),
		s.baseline("idle worker RSS (baseline)"),
		s.figure("worker peak RSS (VmHWM)", "", ""),
		s.figure("RSS per key above idle", "", ""),
		s.figure("state on disk", "", ""))
	rep.Notes = append(rep.Notes, "RSS (VmRSS) of a counter worker child process, read after it restored its state and ran for the settle time; the keys lie in open windows; the state itself lives in Pebble, on disk")
	return rep, nil
}

func memoryRun(ctx context.Context, cfg StateConfig, run int, s *series) error {
	idle, err := idleMemory(ctx, cfg, run)
	if err != nil {
		return err
	}
	c, err := startCluster(ctx, cfg.Options)
	if err != nil {
		return err
	}
	defer c.close()
	cfg.Logger.Info("bench: writing the changelog of the state", "keys", cfg.Keys)
	if _, err := buildState(ctx, c, cfg.Keys, cfg.Options); err != nil {
		return err
	}
	cfg.Logger.Info("bench: measuring a worker holding the state")
	id := fmt.Sprintf("memory-%d", run)
	rss, peak, err := settledMemory(ctx, c, cfg, id, cfg.Keys)
	if err != nil {
		return err
	}
	disk, err := dirSize(c.path("state-" + id))
	if err != nil {
		return err
	}
	cfg.Logger.Info("bench: memory measured", "idle_mib", idle>>20, "rss_mib", rss>>20, "peak_mib", peak>>20)
	s.add(fmt.Sprintf("worker RSS, %s keys", human(float64(cfg.Keys))), "MiB", float64(rss)/(1<<20))
	s.add("idle worker RSS (baseline)", "MiB", float64(idle)/(1<<20))
	s.add("worker peak RSS (VmHWM)", "MiB", float64(peak)/(1<<20))
	s.add("RSS per key above idle", "bytes", float64(rss-idle)/float64(cfg.Keys))
	s.add("state on disk", "MiB", float64(disk)/(1<<20))
	return nil
}

// idleMemory returns the resident memory of a worker without state, on a
// broker of its own.
func idleMemory(ctx context.Context, cfg StateConfig, run int) (int64, error) {
	c, err := startCluster(ctx, cfg.Options)
	if err != nil {
		return 0, err
	}
	defer c.close()
	cfg.Logger.Info("bench: measuring an idle worker", "run", run+1)
	rss, _, err := settledMemory(ctx, c, cfg, fmt.Sprintf("idle-%d", run), 0)
	return rss, err
}

// settledMemory runs a worker child until it restored keys keys and ran
// for the settle time, then returns its resident memory now and at peak.
func settledMemory(ctx context.Context, c *cluster, cfg StateConfig, id string, keys int) (rss, peak int64, err error) {
	ch, err := startChild(cfg.Options, c, id)
	if err != nil {
		return 0, 0, err
	}
	defer ch.stop()
	replayed, _, err := ch.waitReady(ctx, int(c.layout[topics.Partitioned]), readyTimeout(keys))
	if err != nil {
		return 0, 0, err
	}
	if replayed != int64(keys) {
		return 0, 0, fmt.Errorf("worker replayed %d changelog records, want %d", replayed, keys)
	}
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(cfg.Settle):
	}
	return ch.memory()
}

// profileRestore restores the state once more in a worker inside this
// process, with the CPU profile on: the child process cannot be profiled.
func profileRestore(ctx context.Context, c *cluster, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := worker.DefaultConfig()
	cfg.Brokers, cfg.Group, cfg.ID, cfg.StateDir, cfg.Policy = c.brokers, benchGroup+"-profile", "profile", c.path("state-profile"), policy()
	cfg.StandbyReplicas, cfg.Logger = 0, quieter(o.Logger)
	w, err := worker.New(ctx, cfg)
	if err != nil {
		return err
	}
	stop := startProfile(o, 0, "restore")
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for !w.Ready() {
		select {
		case err := <-done:
			return fmt.Errorf("profiled worker stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	return <-done
}

// dirSize returns the total size of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}
