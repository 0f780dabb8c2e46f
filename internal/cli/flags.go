// Package cli defines command-line flags that each have an environment
// variable twin (flag --kafka-port, variable COUNTER_KAFKA_PORT). A flag given
// on the command line wins over the variable, which wins over the default.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// EnvPrefix starts the name of every environment variable twin.
const EnvPrefix = "COUNTER_"

// EnvName returns the environment variable that configures flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// FlagSet is a flag.FlagSet whose flags also read environment variables.
type FlagSet struct {
	*flag.FlagSet
	summary string
	program string
	lookup  func(string) (string, bool)
}

// NewFlagSet returns a FlagSet for subcommand cmd; summary is printed at the
// top of its help.
func NewFlagSet(cmd, summary string) *FlagSet {
	fs := &FlagSet{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError), summary: summary, program: "counter", lookup: os.LookupEnv}
	fs.Usage = func() { fs.PrintHelp(fs.Output()) }
	return fs
}

// SetProgram sets the program name the help shows before the subcommand
// ("counter" unless set).
func (fs *FlagSet) SetProgram(name string) { fs.program = name }

// SetLookupEnv replaces os.LookupEnv, for tests.
func (fs *FlagSet) SetLookupEnv(lookup func(string) (string, bool)) { fs.lookup = lookup }

// PrintHelp writes the summary and every flag with its variable and default.
func (fs *FlagSet) PrintHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", fs.program, fs.Name(), fs.summary)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s  (%s, default %s)\n      %s\n", f.Name, EnvName(f.Name), def, f.Usage)
	})
}

// Parse parses args, then fills every flag not given on the command line from
// its environment variable if that is set. A bad value names its source.
// Positional arguments are refused: every subcommand takes flags only.
func (fs *FlagSet) Parse(args []string) error {
	if err := fs.FlagSet.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see counter %s -h)", fs.Arg(0), fs.Name())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v, ok := fs.lookup(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for %s: %v", v, EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// StringVar defines a string flag.
func (fs *FlagSet) StringVar(p *string, name, def, usage string) {
	fs.FlagSet.StringVar(p, name, def, usage)
}

// IntVar defines an int flag.
func (fs *FlagSet) IntVar(p *int, name string, def int, usage string) {
	fs.FlagSet.IntVar(p, name, def, usage)
}

// BoolVar defines a bool flag.
func (fs *FlagSet) BoolVar(p *bool, name string, def bool, usage string) {
	fs.FlagSet.BoolVar(p, name, def, usage)
}

// DurationVar defines a duration flag (Go syntax: 100ms, 5s, 2m).
func (fs *FlagSet) DurationVar(p *time.Duration, name string, def time.Duration, usage string) {
	fs.FlagSet.DurationVar(p, name, def, usage)
}

// ListVar defines a comma-separated list flag; empty items are dropped.
func (fs *FlagSet) ListVar(p *[]string, name string, def []string, usage string) {
	*p = def
	fs.Func(name, usage, func(s string) error {
		*p = SplitList(s)
		return nil
	})
	fs.Lookup(name).DefValue = strings.Join(def, ",")
}

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// ByteSize is a flag value of a number of bytes, written as a number with
// an optional unit: B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB for powers of
// 1000), e.g. 256MiB.
type ByteSize uint64

var byteUnits = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// String implements flag.Value.
func (b *ByteSize) String() string {
	n := uint64(*b)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
		}
	}
	return fmt.Sprint(n)
}

// Set implements flag.Value.
func (b *ByteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	var n uint64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s {
		return fmt.Errorf("want a number of bytes with an optional unit (B, KiB, MiB, GiB, TiB), e.g. 256MiB")
	}
	if n > 0 && mult > ^uint64(0)/n {
		return fmt.Errorf("%s is too large", s)
	}
	*b = ByteSize(n * mult)
	return nil
}
