// Command counter is an exactly-once stream processor that counts likes per
// video in tumbling windows on Kafka. Run "counter help" for its subcommands.
// The benchmarks and the load generator are a separate binary,
// cmd/counter-tools, so that this one links none of their code.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/counter-dev/counter/internal/cli"
)

// program lists the subcommands.
func program() cli.Program {
	return cli.Program{
		Name:  "counter",
		Intro: "counter counts likes per video in tumbling windows on Kafka, exactly once.",
		Commands: []cli.Command{
			{Name: "dev", Summary: devSummary, Run: runDev},
			{Name: "broker", Summary: brokerSummary, Run: runBroker},
			{Name: "worker", Summary: workerSummary, Run: runWorker},
			{Name: "api", Summary: apiSummary, Run: runAPI},
			{Name: "audit", Summary: auditSummary, Run: runAudit},
			{Name: "topics", Summary: topicsSummary, Run: runTopics},
		},
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
	return program().Run(ctx, args, stdout, stderr)
}
