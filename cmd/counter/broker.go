package main

import (
	"context"
	"io"
	"time"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/broker"
)

const brokerSummary = "run only the embedded Kafka-compatible broker, for multi-process setups"

func runBroker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := cli.NewFlagSet("broker", brokerSummary+".\nIt listens on 127.0.0.1 only; use a real Kafka cluster across machines.")
	var port int
	var dataDir string
	var minSession time.Duration
	var lf cli.LogFlags
	fs.IntVar(&port, "port", 9094, "port to listen on (127.0.0.1)")
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
	if port < 0 || port > 65535 {
		return cli.UsageError{Err: errPort(port)}
	}
	if cli.CheckOnly(ctx) {
		return nil
	}
	b, err := broker.Start(broker.Config{Port: port, DataDir: dataDir, MinSessionTimeout: minSession, MinFreeDisk: uint64(*reserve), Logger: log})
	if err != nil {
		return err
	}
	log.Info("broker ready", "addrs", b.Addrs(), "data_dir", dataDir)
	<-ctx.Done()
	log.Info("broker stopping")
	b.Close()
	return nil
}
