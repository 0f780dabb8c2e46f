// Command counter is an exactly-once stream processor that counts likes per
// video in tumbling windows on Kafka. Run "counter help" for its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", devSummary, runDev},
		{"broker", brokerSummary, runBroker},
		{"worker", workerSummary, runWorker},
		{"api", apiSummary, runAPI},
		{"bench", benchSummary, runBench},
		{"load", loadSummary, runLoad},
		{"audit", auditSummary, runAudit},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit status: 0 on success,
// 2 for a usage error, 1 for a failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args[1:], stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "counter %s: %v\n", name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "counter %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "counter: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `counter counts likes per video in tumbling windows on Kafka, exactly once.

Usage: counter <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every flag has an environment variable twin: --kafka-port is COUNTER_KAFKA_PORT.
Run "counter <command> -h" for a command's flags.
`)
}

// usageError marks errors in flags or arguments (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
