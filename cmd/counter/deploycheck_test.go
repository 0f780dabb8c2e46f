package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/cli"
)

// The deployment files (Dockerfile, deploy/compose.yaml, deploy/systemd) are
// checked against counter's own flag parsers: each command line they hold,
// with its COUNTER_* environment, is parsed and validated by the command
// itself (cli.WithCheckOnly stops it before it starts anything). A flag
// renamed or removed, or a value out of range, fails here, not at deploy time.

// commandFlags returns the flags of counter command cmd with their defaults
// as its help prints them (`""` for an empty default), or nil if cmd is not
// a counter command.
func commandFlags(t *testing.T, cmd string) map[string]string {
	t.Helper()
	known := false
	for _, c := range program().Commands {
		known = known || c.Name == cmd
	}
	if !known {
		return nil
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{cmd, "-h"}, &out, &out); code != 0 {
		t.Fatalf("counter %s -h: exit %d\n%s", cmd, code, out.String())
	}
	flags := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		// "  --name  (COUNTER_NAME, default value)"
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "  --"), "  (")
		if !ok || !strings.HasPrefix(line, "  --") {
			continue
		}
		_, def, _ := strings.Cut(strings.TrimSuffix(rest, ")"), ", default ")
		flags[name] = def
	}
	return flags
}

// checkCommandLine parses and validates args (a counter command line without
// the program name) with env, as the command would to run, and returns what
// is wrong with it. A COUNTER_* variable that is no flag of the command is an
// error too: the parser ignores it, so a typo would go unnoticed.
func checkCommandLine(t *testing.T, args []string, env map[string]string) error {
	t.Helper()
	if len(args) == 0 {
		return fmt.Errorf("no counter command")
	}
	flags := commandFlags(t, args[0])
	if flags == nil {
		return fmt.Errorf("%q is not a counter command", args[0])
	}
	for _, a := range args[1:] {
		if h := strings.TrimLeft(a, "-"); h == "h" || h == "help" {
			return fmt.Errorf("%q only prints the help", a)
		}
	}
	var unknown []string
	for k := range env {
		if strings.HasPrefix(k, cli.EnvPrefix) && !hasEnvTwin(flags, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("counter %s has no flag for %s", args[0], strings.Join(unknown, ", "))
	}
	for _, kv := range os.Environ() { // only the given environment counts
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, cli.EnvPrefix) {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		if strings.HasPrefix(k, cli.EnvPrefix) {
			t.Setenv(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(cli.WithCheckOnly(context.Background()), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if code := run(ctx, args, &out, &out); code != 0 {
		first, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n") // the error, not the help after it
		return fmt.Errorf("counter %s: exit %d: %s", strings.Join(args, " "), code, first)
	}
	return nil
}

func hasEnvTwin(flags map[string]string, env string) bool {
	for name := range flags {
		if cli.EnvName(name) == env {
			return true
		}
	}
	return false
}

// flagValue returns the value of flag name in a counter command line: from
// args (--name v, --name=v, one or two dashes; the last one wins, as in the
// parser), else from env, else the command's default ("" when it has none).
func flagValue(t *testing.T, args []string, env map[string]string, name string) string {
	t.Helper()
	val, given := "", false
	for i := 1; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		if a == args[i] {
			continue
		}
		if a == name && i+1 < len(args) {
			val, given = args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			val, given = v, true
		}
	}
	if given {
		return val
	}
	if v, ok := env[cli.EnvName(name)]; ok {
		return v
	}
	if def := commandFlags(t, args[0])[name]; def != `""` {
		return def
	}
	return ""
}

// adminRoutesOpen reports whether a counter api command line leaves the
// admin routes without a token.
func adminRoutesOpen(t *testing.T, args []string, env map[string]string) bool {
	t.Helper()
	return args[0] == "api" && flagValue(t, args, env, "admin-token") == "" && flagValue(t, args, env, "admin-token-file") == ""
}

// TestCheckCommandLine shows that the check fails what would fail at start
// and passes without starting anything (no broker runs at kafka-1:9092).
func TestCheckCommandLine(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string // "" for no error
	}{
		{[]string{"worker", "--brokers", "kafka-1:9092", "--id", "w1"}, nil, ""},
		{[]string{"api"}, map[string]string{"COUNTER_BROKERS": "kafka-1:9092"}, ""},
		{[]string{"broker", "--data-dir", t.TempDir()}, nil, ""},
		{[]string{"dev", "--data-dir", t.TempDir()}, nil, ""},
		{[]string{"topics", "create", "--brokers", "kafka-1:9092"}, nil, ""},
		{[]string{"topics", "describe", "--timeout", "0s"}, nil, "--timeout must be positive"},
		{[]string{"worker", "--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"worker", "--id", ""}, nil, "--id is empty"},
		{[]string{"api", "--windows", "1m,60s"}, nil, "the same"},
		{[]string{"api"}, map[string]string{"COUNTER_GRACE": "soon"}, "COUNTER_GRACE"},
		{[]string{"api"}, map[string]string{"COUNTER_BROKER": "kafka-1:9092"}, "no flag for COUNTER_BROKER"},
		{[]string{"worker", "-h"}, nil, "only prints the help"},
		{[]string{"serve"}, nil, "not a counter command"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			start := time.Now()
			err := checkCommandLine(t, c.args, c.env)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("the check took %v: it must not start the command", d)
			}
		})
	}
	if got := flagValue(t, []string{"worker", "--id", "a", "--metrics-addr=:9101", "-id=b"}, nil, "id"); got != "b" {
		t.Errorf("flagValue --id a ... -id=b: %q, want the last, b", got)
	}
	if got := flagValue(t, []string{"api"}, nil, "http-addr"); got != ":3000" {
		t.Errorf("flagValue default --http-addr: %q, want :3000", got)
	}
}

// Every command honours cli.WithCheckOnly: with its defaults it returns at
// once (0, or 2 for a usage error) instead of starting, so that the checks
// above never run a process. A new command must call cli.CheckOnly once its
// configuration is valid.
func TestEveryCommandChecksOnly(t *testing.T) {
	t.Setenv("COUNTER_BROKERS", "unreachable.invalid:9092") // a command that starts would hang on it
	for _, c := range program().Commands {
		ctx, cancel := context.WithTimeout(cli.WithCheckOnly(context.Background()), 5*time.Second)
		var out bytes.Buffer
		code := run(ctx, []string{c.Name}, &out, &out)
		late := ctx.Err() != nil
		cancel()
		if late || code == 1 {
			t.Errorf("counter %s under cli.WithCheckOnly: exit %d, deadline passed: %v: it started instead of checking\n%s", c.Name, code, late, out.String())
		}
	}
}
