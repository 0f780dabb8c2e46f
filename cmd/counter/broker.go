package main

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/disk/diskspace"
	"github.com/counter-dev/counter/internal/httpserve"
	"github.com/counter-dev/counter/internal/kafka/broker"
)

const brokerSummary = "run only the embedded Kafka-compatible broker, for multi-process setups"

func runBroker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := cli.NewFlagSet("broker", brokerSummary+".\nIt listens on 127.0.0.1 only; use a real Kafka cluster across machines.")
	var port int
	var dataDir, metricsAddr string
	var minSession time.Duration
	var lf cli.LogFlags
	var sec brokerSecurity
	fs.IntVar(&port, "port", 9094, "port to listen on (127.0.0.1)")
	fs.DurationVar(&minSession, "min-session-timeout", 6*time.Second, "smallest consumer session timeout the broker accepts (Kafka's group.min.session.timeout.ms)")
	reserve := minFreeDisk(fs)
	fs.StringVar(&dataDir, "data-dir", "./data/broker", "directory that persists the broker's topics, offsets and groups; empty keeps them in memory")
	sec.register(fs)
	fs.StringVar(&metricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /readyz on this address (empty disables)")
	lf.Register(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	log, err := lf.Logger(stderr)
	if err != nil {
		return err
	}
	if port < 0 || port > 65535 {
		return cli.UsageError{Err: errPort(port)}
	}
	users, tlsCfg, err := sec.config()
	if err != nil {
		return err
	}
	if cli.CheckOnly(ctx) {
		return nil
	}
	var ready atomic.Bool
	reg := newRegistry()
	startSeconds := brokerMetrics(reg, &ready, dataDir)
	if metricsAddr != "" {
		// Served from the start: live (/healthz) during the start-up pass
		// over the log, ready (/readyz) once clients are let in.
		srv := httpserve.NewServer(metricsAddr, httpserve.Ops(reg, ready.Load, "starting"), httpserve.DefaultLimits(), log)
		go serveOps(srv, log)
		defer srv.Close()
	}
	began := time.Now()
	b, err := broker.Start(broker.Config{Port: port, DataDir: dataDir, MinSessionTimeout: minSession, MinFreeDisk: uint64(*reserve), Users: users, TLS: tlsCfg, Logger: log})
	if err != nil {
		return err
	}
	startSeconds.Set(time.Since(began).Seconds())
	ready.Store(true)
	log.Info("broker ready", "addrs", b.Addrs(), "data_dir", dataDir, "tls", tlsCfg != nil, "sasl_user", sec.user)
	<-ctx.Done()
	log.Info("broker stopping")
	ready.Store(false)
	b.Close()
	return nil
}

// brokerMetrics registers counter broker's own metrics in reg and returns
// the gauge of its start-up time.
func brokerMetrics(reg prometheus.Registerer, ready *atomic.Bool, dataDir string) prometheus.Gauge {
	start := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "counter_broker_start_seconds",
		Help: "Time the broker took to start, its pass over the log included.",
	})
	reg.MustRegister(start, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "counter_broker_ready",
		Help: "1 once the broker lets clients in, 0 before and while it stops.",
	}, func() float64 {
		if ready.Load() {
			return 1
		}
		return 0
	}))
	if dataDir != "" {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "counter_broker_disk_free_bytes",
			Help: "Free bytes on the filesystem of the data dir (new records are refused below --min-free-disk).",
		}, func() float64 {
			free, err := diskspace.Free(dataDir)
			if err != nil {
				return -1
			}
			return float64(free)
		}))
	}
	return start
}
