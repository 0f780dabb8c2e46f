// Command counter-tools holds the tools around counter that the product
// binary does not ship: the benchmarks of BENCHMARKS.md and the load
// generator. Run "counter-tools help" for its subcommands.
package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/counter-dev/counter/internal/cli"
)

// programName is how users type this binary.
const programName = "counter-tools"

func program() cli.Program {
	return cli.Program{
		Name:  programName,
		Intro: "counter-tools benchmarks counter and sends it load.",
		Commands: []cli.Command{
			{Name: "bench", Summary: benchSummary, Run: runBench},
			{Name: "load", Summary: loadSummary, Run: runLoad},
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

// newFlagSet returns a flag set whose help names this program.
func newFlagSet(cmd, summary string) *cli.FlagSet {
	fs := cli.NewFlagSet(cmd, summary)
	fs.SetProgram(programName)
	return fs
}

// counterBinary finds the counter executable the benchmarks run worker
// processes with: the one beside this executable (make build puts both in
// bin/), else the one on PATH, else "".
func counterBinary() string {
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), "counter")
		if info, err := os.Stat(beside); err == nil && !info.IsDir() {
			return beside
		}
	}
	path, _ := exec.LookPath("counter")
	return path
}
