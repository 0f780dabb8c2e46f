package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// ensureTopics creates the wanted topics that are missing and checks them
// all, retrying while the cluster is not reachable yet (processes may start
// in any order) until ctx ends or a minute passes. Refused credentials or a
// TLS mismatch end it at once (connect), and so do topics of a shape the
// pipeline cannot work with (topics.Report.Err); weaker replication than
// wanted is logged. It returns the resolved spec (its replication decided
// from the cluster) and the partition counts.
func ensureTopics(ctx context.Context, cluster kafkaconn.Cluster, wants []topics.Want, spec topics.Spec, log *slog.Logger) (topics.Spec, topics.Layout, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := connect(ctx, cluster, log); err != nil {
		return topics.Spec{}, nil, err
	}
	cl, err := cluster.NewClient(kgo.WithLogger(kafkalog.New(log)))
	if err != nil {
		return topics.Spec{}, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	brokers := cluster.Brokers
	for attempt := 0; ; attempt++ {
		reqCtx, reqCancel := context.WithTimeout(ctx, 10*time.Second)
		resolved, report, err := topics.Provision(reqCtx, adm, wants, spec)
		reqCancel()
		if err == nil {
			for _, w := range report.Warnings() {
				log.Warn(w)
			}
			if err := report.Err(); err != nil {
				return topics.Spec{}, nil, fmt.Errorf("%w (check them with counter topics describe)", err)
			}
			return resolved, report.Layout(), nil
		}
		if err := kafkaconn.Classify(brokers, err); kafkaconn.Permanent(err) {
			return topics.Spec{}, nil, err
		}
		if ctx.Err() != nil {
			return topics.Spec{}, nil, fmt.Errorf("kafka at %s: %w", strings.Join(brokers, ","), err)
		}
		if attempt%5 == 0 {
			log.Warn("cannot create topics yet; retrying", "brokers", brokers, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
