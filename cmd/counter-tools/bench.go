package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/counter-dev/counter/internal/apinode/live"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/tools/bench"
	"github.com/counter-dev/counter/internal/tools/loadgen"
	"github.com/counter-dev/counter/internal/worker"
)

const benchSummary = "run a benchmark scenario against its own embedded broker and print its figures"

// benchScenario is one scenario of counter-tools bench.
type benchScenario struct {
	name, summary string
	// flags registers the scenario's own flags and returns the function
	// that runs it with the shared options.
	flags func(fs *cli.FlagSet) func(ctx context.Context, o bench.Options) (*bench.Report, error)
}

func benchScenarios() []benchScenario {
	return []benchScenario{
		{"pipeline", "events/s of workers counting a preloaded backlog, vs a plain consumer reading it", pipelineFlags},
		{"ingest", "requests/s and latency of the HTTP API taking likes, vs GET /healthz", ingestFlags},
		{"restore", "keys/s and peak RSS of a fresh worker process restoring its changelog, vs a plain consumer", restoreFlags},
		{"memory", "RSS of a worker process holding a state of --keys keys, vs an idle worker", memoryFlags},
		{"latency", "latency from a like's 200 to its Socket.IO push at a steady rate, vs the push alone", latencyFlags},
	}
}

func runBench(ctx context.Context, args []string, stderr io.Writer) error {
	return benchCommand(ctx, args, os.Stdout, stderr)
}

// benchCommand runs "counter-tools bench <scenario> [flags]", printing the report
// to stdout.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		benchUsage(stderr)
		if len(args) == 0 {
			return cli.UsageError{Err: errors.New("which scenario?")}
		}
		return flag.ErrHelp
	}
	var sc *benchScenario
	for _, s := range benchScenarios() {
		if s.name == args[0] {
			sc = &s
		}
	}
	if sc == nil {
		benchUsage(stderr)
		return cli.UsageError{Err: fmt.Errorf("unknown scenario %q", args[0])}
	}
	fs := newFlagSet("bench "+sc.name, sc.summary+`.
Each figure is the median of --runs runs; the scenario starts its own broker
(in a temporary directory), workers and API.`)
	var (
		o       bench.Options
		asJSON  bool
		lf      cli.LogFlags
		profile string
	)
	fs.IntVar(&o.Runs, "runs", 3, "runs per figure; figures are medians")
	fs.IntVar(&o.Partitions, "partitions", 6, "partitions of every topic")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&profile, "profile-dir", "", "write CPU profiles (pprof) of the measured phases of the first run here")
	lf.Register(fs)
	measure := sc.flags(fs)
	if err := cli.Parse(fs, args[1:], stderr); err != nil {
		return err
	}
	log, err := lf.Logger(stderr)
	if err != nil {
		return err
	}
	o.ProfileDir, o.Logger = profile, log
	rep, err := measure(ctx, o)
	if errors.Is(err, bench.ErrInvalid) {
		return cli.UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	return rep.Write(stdout, asJSON)
}

func benchUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: counter-tools bench <scenario> [flags]\n\n"+benchSummary+".\n\nScenarios:\n")
	for _, s := range benchScenarios() {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.summary)
	}
	fmt.Fprint(w, "\nRun \"counter-tools bench <scenario> -h\" for a scenario's flags.\n")
}

func pipelineFlags(fs *cli.FlagSet) func(context.Context, bench.Options) (*bench.Report, error) {
	var cfg bench.PipelineConfig
	var dist string
	fs.IntVar(&cfg.Events, "events", 5000000, "likes preloaded into the ingestion topic per workload")
	fs.IntVar(&cfg.Videos, "videos", 100000, "distinct video ids")
	fs.StringVar(&dist, "distribution", "zipf", "how video ids are drawn: uniform or zipf")
	fs.IntVar(&cfg.Workers, "workers", 2, "workers, in this process, in one consumer group")
	return func(ctx context.Context, o bench.Options) (*bench.Report, error) {
		d, err := loadgen.ParseDistribution(dist)
		if err != nil {
			return nil, cli.UsageError{Err: err}
		}
		cfg.Options, cfg.Distribution, cfg.Span = o, d, 30*time.Minute
		return bench.Pipeline(ctx, cfg)
	}
}

func ingestFlags(fs *cli.FlagSet) func(context.Context, bench.Options) (*bench.Report, error) {
	var cfg bench.IngestConfig
	var dist string
	fs.IntVar(&cfg.Connections, "connections", 64, "keep-alive connections of the load generator, one request in flight each")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each kind of request is measured")
	fs.IntVar(&cfg.Count, "count", 100, `likes per request of the batched phase ({"count":n})`)
	fs.IntVar(&cfg.Videos, "videos", 100000, "distinct video ids")
	fs.StringVar(&dist, "distribution", "zipf", "how video ids are drawn: uniform or zipf")
	return func(ctx context.Context, o bench.Options) (*bench.Report, error) {
		d, err := loadgen.ParseDistribution(dist)
		if err != nil {
			return nil, cli.UsageError{Err: err}
		}
		cfg.Options, cfg.Distribution = o, d
		return bench.Ingest(ctx, cfg)
	}
}

func restoreFlags(fs *cli.FlagSet) func(context.Context, bench.Options) (*bench.Report, error) {
	var cfg bench.StateConfig
	fs.IntVar(&cfg.Keys, "keys", 1000000, "distinct (video, window) keys of the state to restore")
	binary := binaryFlag(fs)
	return func(ctx context.Context, o bench.Options) (*bench.Report, error) {
		cfg.Options = o
		cfg.Binary = binary()
		return bench.Restore(ctx, cfg)
	}
}

func memoryFlags(fs *cli.FlagSet) func(context.Context, bench.Options) (*bench.Report, error) {
	var cfg bench.StateConfig
	fs.IntVar(&cfg.Keys, "keys", 1000000, "distinct (video, window) keys the worker holds")
	fs.DurationVar(&cfg.Settle, "settle", 3*time.Second, "how long the worker runs after restoring before its memory is read")
	binary := binaryFlag(fs)
	return func(ctx context.Context, o bench.Options) (*bench.Report, error) {
		cfg.Options = o
		cfg.Binary = binary()
		return bench.Memory(ctx, cfg)
	}
}

func latencyFlags(fs *cli.FlagSet) func(context.Context, bench.Options) (*bench.Report, error) {
	var cfg bench.LatencyConfig
	fs.IntVar(&cfg.Rate, "rate", 1000, "single likes per second sent through the API")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long likes are sent per run")
	fs.IntVar(&cfg.Videos, "videos", 100, "distinct videos, liked uniformly and all watched by the Socket.IO client")
	fs.IntVar(&cfg.Workers, "workers", 2, "workers, in this process, in one consumer group")
	fs.DurationVar(&cfg.CommitInterval, "commit-interval", worker.DefaultCommitInterval, "the workers' commit interval")
	fs.DurationVar(&cfg.FlushInterval, "live-flush-interval", live.DefaultFlushInterval, "the API's shortest time between two Socket.IO pushes")
	fs.IntVar(&cfg.Connections, "connections", 16, "keep-alive connections the likes are sent over, one request in flight each")
	return func(ctx context.Context, o bench.Options) (*bench.Report, error) {
		cfg.Options = o
		return bench.Latency(ctx, cfg)
	}
}

// binaryFlag registers --binary, the executable of the measured workers,
// and returns the function that resolves it once the flags are parsed ("" if
// there is none: the scenario then fails after checking its other flags).
func binaryFlag(fs *cli.FlagSet) func() string {
	var binary string
	fs.StringVar(&binary, "binary", "", "counter executable to run the measured worker processes with (default: the one beside counter-tools, else on PATH)")
	return func() string {
		if binary != "" {
			return binary
		}
		return counterBinary()
	}
}
