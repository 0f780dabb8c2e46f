package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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
	fs := cli.NewFlagSet("broker", brokerSummary+`.
It listens on 127.0.0.1 unless --listen says otherwise; other machines (a
demo) reach it with --listen 0.0.0.0 --advertise <this machine's name or IP>.
--nodes 3 runs a cluster of three nodes on consecutive ports, enough for
topics replicated three times. For production, use a real Kafka cluster.`)
	var port, nodes int
	var dataDir, metricsAddr, listen, advertise string
	var minSession time.Duration
	var lf cli.LogFlags
	var sec brokerSecurity
	fs.IntVar(&port, "port", 9094, "port to listen on (node i of --nodes listens on port+i); a port in --listen takes precedence")
	fs.StringVar(&listen, "listen", broker.DefaultListenHost, "host or IP to listen on, optionally host:port; 0.0.0.0 listens on every interface")
	fs.StringVar(&advertise, "advertise", "", "host or host:port the broker tells clients to connect to (node i with port+i); empty: the --listen address, or this machine's host name when listening on every interface")
	fs.IntVar(&nodes, "nodes", 1, "broker nodes of the embedded cluster, each on its own port (1 to 16)")
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
	host, port, err := listenAddress(listen, port)
	if err != nil {
		return err
	}
	if nodes < 1 || nodes > 16 {
		return cli.UsageError{Err: fmt.Errorf("--nodes %d: want 1 to 16", nodes)}
	}
	if port > 0 && port+nodes-1 > 65535 {
		return cli.UsageError{Err: fmt.Errorf("--nodes %d from port %d: ports beyond 65535", nodes, port)}
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
	b, err := broker.Start(broker.Config{Port: port, Nodes: nodes, ListenHost: host, Advertise: advertise, DataDir: dataDir,
		MinSessionTimeout: minSession, MinFreeDisk: uint64(*reserve), Users: users, TLS: tlsCfg, Logger: log})
	if err != nil {
		return err
	}
	startSeconds.Set(time.Since(began).Seconds())
	ready.Store(true)
	log.Info("broker ready", "addrs", b.Addrs(), "listen", host, "data_dir", dataDir, "tls", tlsCfg != nil, "sasl_user", sec.user)
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

// listenAddress splits --listen (host or host:port) and applies --port
// when it has no port.
func listenAddress(listen string, port int) (string, int, error) {
	host := listen
	if h, p, err := net.SplitHostPort(listen); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return "", 0, cli.UsageError{Err: fmt.Errorf("--listen %q: port out of range 0-65535", listen)}
		}
		host, port = h, n
	}
	if host == "" {
		return "", 0, cli.UsageError{Err: errors.New("--listen has no host: use 0.0.0.0 for every interface")}
	}
	if port < 0 || port > 65535 {
		return "", 0, cli.UsageError{Err: errPort(port)}
	}
	return host, port, nil
}
