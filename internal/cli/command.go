package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Command is one subcommand of a program.
type Command struct {
	// Name is the word that selects the command.
	Name string
	// Summary is the one-line description shown in the program's usage.
	Summary string
	// Run runs the command with the arguments after its name.
	Run func(ctx context.Context, args []string, stderr io.Writer) error
}

// Program is a binary made of subcommands.
type Program struct {
	// Name is the binary's name, as users type it.
	Name string
	// Intro is printed above the list of commands.
	Intro string
	// Commands are the subcommands, in the order the usage lists them.
	Commands []Command
}

// Run executes the command line args (without the program name) and
// returns the exit status: 0 on success or help, 2 for a usage error (a
// UsageError or an unknown command), 1 for any other failure.
func (p Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		p.Usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			return p.Run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		p.Usage(stdout)
		return 0
	}
	for _, c := range p.Commands {
		if c.Name != name {
			continue
		}
		err := c.Run(ctx, args[1:], stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(UsageError)):
			fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", p.Name, name)
	p.Usage(stderr)
	return 2
}

// Usage writes the program's intro and its commands.
func (p Program) Usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage: %s <command> [flags]\n\nCommands:\n", p.Intro, p.Name)
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, `
Every flag has an environment variable twin: --kafka-port is %s.
Run "%s <command> -h" for a command's flags.
`, EnvName("kafka-port"), p.Name)
}

// UsageError marks errors in flags or arguments (exit status 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Parse parses flags, writing help and errors to stderr; errors other than
// -h become UsageErrors.
func Parse(fs *FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{Err: err}
	}
	return nil
}

// LogFlags configure logging: --log-level and --log-format.
type LogFlags struct {
	level, format string
}

// Register adds the flags to fs.
func (l *LogFlags) Register(fs *FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

// Logger returns the logger the flags ask for, writing to w.
func (l *LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, UsageError{Err: fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, UsageError{Err: fmt.Errorf("--log-format %q: want text or json", l.format)}
}

// BrokerList parses --brokers: a comma-separated list of host:port.
func BrokerList(s string) ([]string, error) {
	list := SplitList(s)
	if len(list) == 0 {
		return nil, UsageError{Err: errors.New("--brokers is empty")}
	}
	for _, b := range list {
		if !strings.Contains(b, ":") {
			return nil, UsageError{Err: fmt.Errorf("--brokers: %q is not host:port", b)}
		}
	}
	return list, nil
}
