package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn/connflags"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/tools/loadgen"
)

const loadSummary = "send likes at a chosen rate through the HTTP API or straight into Kafka"

// loadFlags are the flags of counter-tools load.
type loadFlags struct {
	target, url, dist    string
	rate                 float64
	videos, count, conns int
	duration             time.Duration
	total                int
	keyed, failOnError   bool
}

func runLoad(ctx context.Context, args []string, stderr io.Writer) error {
	return loadCommand(ctx, args, os.Stdout, stderr)
}

// loadCommand runs counter-tools load: progress goes to stderr every second, the
// summary to stdout.
func loadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("load", loadSummary+`.
The run is bounded by --duration and, if set, --total. A progress line (likes
sent, acknowledged, errors, rate) goes to stderr every second, a summary to
stdout at the end.`)
	var (
		f    loadFlags
		kf   connflags.Flags
		rate int
		lf   cli.LogFlags
	)
	fs.StringVar(&f.target, "target", "http", "where likes go: http (the API) or kafka (the ingestion topic)")
	fs.StringVar(&f.url, "url", "http://localhost:3000/dev", "base URL of the API, up to the stage (--target http)")
	kf.Register(fs) // --brokers, TLS, SASL (--target kafka)
	fs.IntVar(&rate, "rate", 100, "likes per second; 0 sends as fast as the target takes them")
	fs.IntVar(&f.videos, "videos", 0, "distinct videos; 0 uses the catalog's sample videos")
	fs.StringVar(&f.dist, "distribution", "uniform", "how videos are drawn: uniform or zipf")
	fs.IntVar(&f.count, "count", 1, `likes per request ({"count":n} body; for kafka, records per batch of one video)`)
	fs.IntVar(&f.conns, "connections", 16, "keep-alive HTTP connections, one request in flight each (--target http)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&f.total, "total", 0, "stop after sending this many likes (0: only --duration bounds the run)")
	fs.BoolVar(&f.keyed, "keyed", true, "key records by video id as the API does; false sends unkeyed records as the original producers (--target kafka)")
	fs.BoolVar(&f.failOnError, "fail-on-error", false, "exit with status 1 if any like was not acknowledged")
	lf.Register(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	log, err := lf.Logger(stderr)
	if err != nil {
		return err
	}
	f.rate = float64(rate)
	ids, dist, err := f.check()
	if err != nil {
		return err
	}
	stats := &loadgen.Stats{}
	progCtx, stopProgress := context.WithCancel(ctx)
	progDone := make(chan struct{})
	go func() { defer close(progDone); loadgen.Progress(progCtx, stderr, stats, time.Second) }()
	var res loadgen.Result
	switch f.target {
	case "http":
		res, err = f.runHTTP(ctx, ids, dist, stats)
	case "kafka":
		var cluster kafkaconn.Cluster
		if cluster, err = kf.Cluster(); err == nil {
			// Refused credentials stop the run at once; an unreachable
			// cluster is waited for a minute.
			probeCtx, cancel := context.WithTimeout(ctx, time.Minute)
			err = cluster.Probe(probeCtx, log)
			cancel()
		}
		if err == nil {
			res, err = loadgen.RunKafka(ctx, loadgen.KafkaConfig{
				Brokers: cluster.Brokers, KafkaOpts: cluster.Opts, Topic: topics.Ingestion, Keyed: f.keyed, Rate: f.rate, Count: f.count,
				Duration: f.duration, MaxLikes: int64(f.total), IDs: ids, Distribution: dist, Seed: uint64(time.Now().UnixNano()),
				Logger: log,
			}, stats)
		}
	}
	stopProgress()
	<-progDone
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, res.Summary())
	if f.failOnError && res.Errors > 0 {
		return fmt.Errorf("%d errors", res.Errors)
	}
	return nil
}

// check validates the flags and returns the video ids and distribution.
func (f *loadFlags) check() ([]string, loadgen.Distribution, error) {
	dist, err := loadgen.ParseDistribution(f.dist)
	switch {
	case err != nil:
		return nil, "", cli.UsageError{Err: fmt.Errorf("--distribution: %w", err)}
	case f.target != "http" && f.target != "kafka":
		return nil, "", cli.UsageError{Err: fmt.Errorf("--target %q: want http or kafka", f.target)}
	case f.rate < 0:
		return nil, "", cli.UsageError{Err: errors.New("--rate must not be negative")}
	case f.duration <= 0 || f.duration > 24*time.Hour:
		return nil, "", cli.UsageError{Err: fmt.Errorf("--duration %v: want more than 0 and at most 24h", f.duration)}
	case f.total < 0:
		return nil, "", cli.UsageError{Err: errors.New("--total must not be negative")}
	case f.count < 1 || f.count > 10000:
		return nil, "", cli.UsageError{Err: fmt.Errorf("--count %d: want 1 to 10000", f.count)}
	case f.conns < 1 || f.conns > 10000:
		return nil, "", cli.UsageError{Err: fmt.Errorf("--connections %d: want 1 to 10000", f.conns)}
	case f.videos < 0 || f.videos > 100_000_000:
		return nil, "", cli.UsageError{Err: fmt.Errorf("--videos %d: want 0 to 100000000", f.videos)}
	}
	if f.videos > 0 {
		return loadgen.VideoIDs(f.videos), dist, nil
	}
	var ids []string
	for _, v := range catalog.Samples() {
		ids = append(ids, v.ID)
	}
	return ids, dist, nil
}

// runHTTP sends the likes through the API; --rate is in likes, so requests
// go at rate/count per second.
func (f *loadFlags) runHTTP(ctx context.Context, ids []string, dist loadgen.Distribution, stats *loadgen.Stats) (loadgen.Result, error) {
	t, err := loadgen.ParseTarget(f.url)
	if err != nil {
		return loadgen.Result{}, cli.UsageError{Err: fmt.Errorf("--url: %w", err)}
	}
	reqs, err := loadgen.LikeRequests(t, ids, dist, f.count, uint64(time.Now().UnixNano()))
	if err != nil {
		return loadgen.Result{}, err
	}
	var maxReqs int64
	if f.total > 0 {
		maxReqs = (int64(f.total) + int64(f.count) - 1) / int64(f.count)
	}
	return loadgen.RunHTTP(ctx, loadgen.HTTPConfig{
		Addr: t.Addr, Connections: f.conns, Rate: f.rate / float64(f.count),
		Duration: f.duration, MaxRequests: maxReqs, NewRequests: reqs,
	}, stats)
}
