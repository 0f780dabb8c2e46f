package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/worker"
)

const devSummary = "run the whole system in one process: broker, workers, HTTP API, demo likes"

func runDev(ctx context.Context, args []string, stderr io.Writer) error {
	fs := cli.NewFlagSet("dev", devSummary+`.
Data (broker log, worker state) persists under --data-dir: a restart goes on where it stopped.`)
	var (
		kafkaPort, workers int
		dataDir            string
		demo               time.Duration
		af                 apiFlags
		pf                 countFlags
		lf                 cli.LogFlags
	)
	fs.IntVar(&kafkaPort, "kafka-port", 9094, "port of the embedded Kafka-compatible broker (127.0.0.1)")
	fs.StringVar(&dataDir, "data-dir", "./data", "directory for the broker's log and the workers' state")
	fs.IntVar(&workers, "workers", 2, "stream workers, in one consumer group")
	fs.DurationVar(&demo, "demo-interval", 20*time.Second, "send one like for a demo video this often (0 disables)")
	af.register(fs)
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
	if kafkaPort < 0 || kafkaPort > 65535 {
		return cli.UsageError{Err: errPort(kafkaPort)}
	}
	if workers < 1 || workers > 64 {
		return cli.UsageError{Err: fmt.Errorf("--workers %d: want 1 to 64", workers)}
	}
	pol, err := pf.policy()
	if err != nil {
		return err
	}
	spec, err := pf.spec()
	if err != nil {
		return err
	}
	if err := af.check(); err != nil {
		return err
	}

	if cli.CheckOnly(ctx) {
		return nil
	}
	reg := newRegistry()
	var brokerReady atomic.Bool
	brokerStart := brokerMetrics(reg, &brokerReady, filepath.Join(dataDir, "broker"))
	began := time.Now()
	b, err := broker.Start(broker.Config{Port: kafkaPort, DataDir: filepath.Join(dataDir, "broker"), MinFreeDisk: uint64(*reserve), Logger: log})
	if err != nil {
		return err
	}
	brokerStart.Set(time.Since(began).Seconds())
	brokerReady.Store(true)
	defer b.Close()
	brokers := b.Addrs()
	log.Info("embedded broker ready", "addrs", brokers, "data_dir", dataDir)
	cluster := kafkaconn.Cluster{Brokers: brokers}
	if spec, _, err = ensureTopics(ctx, cluster, append(topics.Pipeline(pol.Sizes), apinode.Topics()...), spec, log); err != nil {
		return err
	}

	runCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	workerErr := make(chan error, workers) // a worker that stopped for good
	sups := make([]*supervisor, workers)
	for i := 0; i < workers; i++ {
		id := "dev-" + strconv.Itoa(i)
		cfg := pf.workerConfig(cluster, id, filepath.Join(dataDir, "worker-"+id), pol)
		cfg.DemoInterval, cfg.MinFreeDisk, cfg.Logger = demo, uint64(*reserve), log
		cfg.Metrics = worker.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"worker": id}, reg))
		sup := &supervisor{cfg: cfg, log: log}
		sups[i] = sup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sup.run(runCtx); err != nil {
				workerErr <- fmt.Errorf("worker %s: %w", cfg.ID, err)
			}
		}()
	}

	af.group, af.standbys, af.replication, af.grace = topics.WorkersGroup, pf.standbys, spec.Replication, pf.grace
	af.ready = func() bool { // GET /readyz: every worker has restored its partitions
		for _, s := range sups {
			if !s.Ready() {
				return false
			}
		}
		return true
	}
	srv, closeAPI, err := af.start(ctx, cluster, pol.Sizes, reg, log)
	if err != nil {
		stopWorkers()
		wg.Wait()
		return err
	}
	ln, err := net.Listen("tcp", af.httpAddr)
	if err != nil {
		closeAPI()
		stopWorkers()
		wg.Wait()
		return fmt.Errorf("HTTP API: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("counter is running", "http", ln.Addr().String(), "kafka", brokers[0], "workers", workers, "windows", pf.windows)

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("HTTP server on %s: %w", af.httpAddr, err)
	case err = <-workerErr:
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutCtx)
	closeAPI()
	stopWorkers() // each commits its open transaction and closes its store
	wg.Wait()
	log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
