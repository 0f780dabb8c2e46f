package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// ensureTopics creates the wanted topics that are missing and checks them
// all, retrying while the cluster is not reachable yet (processes may start
// in any order) until ctx ends or a minute passes. Topics of a shape the
// pipeline cannot work with fail at once (topics.Report.Err); weaker
// replication than wanted is logged. It returns the resolved spec (its
// replication decided from the cluster) and the partition counts.
func ensureTopics(ctx context.Context, brokers []string, wants []topics.Want, spec topics.Spec, log *slog.Logger) (topics.Spec, topics.Layout, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.WithLogger(kafkalog.New(log)))
	if err != nil {
		return topics.Spec{}, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
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
