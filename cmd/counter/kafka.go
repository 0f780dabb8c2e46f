package main

import (
	"context"
	"log/slog"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
)

// connect checks the connection to the cluster before a process starts
// its work (kafkaconn.Cluster.Probe): refused credentials or a TLS
// mismatch stop the process at once with an error that says what to check;
// a cluster that is not reachable yet is waited for until ctx ends. It logs
// how it connects, without the password.
func connect(ctx context.Context, cluster kafkaconn.Cluster, log *slog.Logger) error {
	if cluster.Config.InsecureSkipVerify {
		log.Warn("--tls-insecure-skip-verify: the brokers' certificate is not verified; anyone on the path can read and change the traffic")
	}
	if err := cluster.Probe(ctx, log); err != nil {
		return err
	}
	log.Info("connected to kafka", "brokers", cluster.Brokers, "connection", cluster.Config)
	return nil
}
