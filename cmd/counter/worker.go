package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/disk/dirlock"
	"github.com/counter-dev/counter/internal/httpserve"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn/connflags"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/worker"
)

const workerSummary = "run one stream worker against a Kafka cluster"

// workerGiveUp is how long counter worker keeps starting a failing worker
// again before it exits: long enough to ride out a broker restart.
const workerGiveUp = 5 * time.Minute

func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := cli.NewFlagSet("worker", workerSummary+`.
Workers in the same --group share the partitions; each needs its own --id and --state-dir.`)
	host, _ := os.Hostname()
	var (
		id, stateDir, group, instanceID, metricsAddr string
		demo, session                                time.Duration
		kf                                           connflags.Flags
		pf                                           countFlags
		lf                                           cli.LogFlags
	)
	kf.Register(fs)
	fs.StringVar(&id, "id", host, "worker id: unique in the group and stable across restarts (names the transactional id)")
	fs.StringVar(&stateDir, "state-dir", "", "directory of the local state store (default ./data/worker-<id>)")
	fs.StringVar(&group, "group", topics.WorkersGroup, "consumer group of the workers")
	fs.StringVar(&instanceID, "instance-id", "", "static group membership id (KIP-345); empty for dynamic membership")
	fs.DurationVar(&session, "session-timeout", worker.DefaultSessionTimeout, "how long a dead worker keeps its partitions")
	fs.DurationVar(&demo, "demo-interval", 0, "send a demo like this often from the owner of partition 0 (0 disables)")
	fs.StringVar(&metricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /readyz on this address (empty disables)")
	pf.register(fs)
	lf.Register(fs)
	reserve := minFreeDisk(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	log, err := lf.Logger(stderr)
	if err != nil {
		return err
	}
	cluster, err := kf.Cluster()
	if err != nil {
		return err
	}
	pol, err := pf.policy()
	if err != nil {
		return err
	}
	spec, err := pf.spec()
	if err != nil {
		return err
	}
	if id == "" {
		return cli.UsageError{Err: errors.New("--id is empty")}
	}
	if stateDir == "" {
		stateDir = filepath.Join("data", "worker-"+id)
	}
	if cli.CheckOnly(ctx) {
		return nil
	}
	if _, _, err := ensureTopics(ctx, cluster, topics.Pipeline(pol.Sizes), spec, log); err != nil {
		return err
	}
	reg := newRegistry()
	cfg := pf.workerConfig(cluster, id, stateDir, pol)
	cfg.Group, cfg.InstanceID, cfg.DemoInterval, cfg.MinFreeDisk = group, instanceID, demo, uint64(*reserve)
	cfg.SessionTimeout, cfg.Logger, cfg.Registerer = session, log, reg
	cfg.Metrics = worker.NewMetrics(reg) // kept across restarts
	// A state dir in use says so at once, before the wait for the id.
	if l, err := dirlock.Acquire(stateDir); err != nil {
		return fmt.Errorf("worker state dir: %w", err)
	} else if err := l.Release(); err != nil {
		return err
	}
	sup := &supervisor{cfg: cfg, log: log, giveUp: workerGiveUp, checkID: true}
	if metricsAddr != "" {
		srv := httpserve.NewServer(metricsAddr, opsHandler(reg, sup.Ready), httpserve.DefaultLimits(), log)
		go serveOps(srv, log)
		defer srv.Close()
	}
	return sup.run(ctx)
}

// newRegistry returns a metrics registry with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// opsHandler serves /metrics, /healthz (liveness) and /readyz (state
// restored).
func opsHandler(reg *prometheus.Registry, ready func() bool) http.Handler {
	return httpserve.Ops(reg, ready, "restoring or not yet assigned")
}

func serveOps(srv *http.Server, log *slog.Logger) {
	log.Info("serving metrics and health", "addr", srv.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics server failed", "addr", srv.Addr, "err", err)
	}
}

func errPort(p int) error { return fmt.Errorf("port %d out of range 0-65535", p) }
