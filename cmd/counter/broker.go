package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/counter-dev/counter/internal/cli"
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
	var dataDir, listen, advertise string
	var minSession time.Duration
	var lf cli.LogFlags
	fs.IntVar(&port, "port", 9094, "port to listen on (node i of --nodes listens on port+i); a port in --listen takes precedence")
	fs.StringVar(&listen, "listen", broker.DefaultListenHost, "host or IP to listen on, optionally host:port; 0.0.0.0 listens on every interface")
	fs.StringVar(&advertise, "advertise", "", "host or host:port the broker tells clients to connect to (node i with port+i); empty: the --listen address, or this machine's host name when listening on every interface")
	fs.IntVar(&nodes, "nodes", 1, "broker nodes of the embedded cluster, each on its own port (1 to 16)")
	fs.DurationVar(&minSession, "min-session-timeout", 6*time.Second, "smallest consumer session timeout the broker accepts (Kafka's group.min.session.timeout.ms)")
	reserve := minFreeDisk(fs)
	fs.StringVar(&dataDir, "data-dir", "./data/broker", "directory that persists the broker's topics, offsets and groups; empty keeps them in memory")
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
	b, err := broker.Start(broker.Config{Port: port, Nodes: nodes, ListenHost: host, Advertise: advertise,
		DataDir: dataDir, MinSessionTimeout: minSession, MinFreeDisk: uint64(*reserve), Logger: log})
	if err != nil {
		return err
	}
	log.Info("broker ready", "addrs", b.Addrs(), "listen", host, "data_dir", dataDir)
	<-ctx.Done()
	log.Info("broker stopping")
	b.Close()
	return nil
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
