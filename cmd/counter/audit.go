package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/counter-dev/counter/internal/apinode/audit"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn/connflags"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

const auditSummary = "recount closed windows from the ingestion topic and compare them with the final records (exit 1 on drift)"

// auditFlags configure an audit; counter audit and the API's audit route
// share them.
type auditFlags struct {
	windows  []string
	grace    time.Duration
	from, to time.Time
	settle   time.Duration
	group    string
	catchUp  time.Duration
}

func (a *auditFlags) register(fs *cli.FlagSet) {
	fs.ListVar(&a.windows, "windows", []string{"1m", "5m", "10m"}, "the workers' window sizes, comma-separated (one output topic each)")
	fs.DurationVar(&a.grace, "grace", window.DefaultGrace, "the workers' --grace")
	fs.Func("from", "check windows starting at or after this time: RFC 3339, or a duration ago (2h); empty: the oldest data the topics retain", timeValue(&a.from))
	fs.Func("to", "check windows closed (end + grace) at or before this time: RFC 3339, or a duration ago; empty: now minus --settle", timeValue(&a.to))
	fs.DurationVar(&a.settle, "settle", audit.DefaultSettle, "windows closed less than this long ago are not checked yet")
	fs.StringVar(&a.group, "group", topics.WorkersGroup, "the workers' consumer group: the audit first waits for it to process the input present (empty: no wait)")
	fs.DurationVar(&a.catchUp, "catch-up-timeout", audit.DefaultCatchUpTimeout, "how long to wait for the workers to catch up before reading (0: no wait)")
}

// timeValue parses an RFC 3339 time or a duration before now into t.
func timeValue(t *time.Time) func(string) error {
	return func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			*t = time.Time{}
			return nil
		}
		if d, err := time.ParseDuration(s); err == nil {
			if d < 0 {
				return fmt.Errorf("duration %q is negative", s)
			}
			*t = time.Now().Add(-d)
			return nil
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
		}
		*t = v
		return nil
	}
}

// config checks the flags and returns the audit configuration (Brokers and
// Logger to be set).
func (a *auditFlags) config() (audit.Config, error) {
	sizes, err := window.ParseSizes(a.windows)
	if err != nil {
		return audit.Config{}, cli.UsageError{Err: fmt.Errorf("--windows: %w", err)}
	}
	switch {
	case a.grace < 0:
		return audit.Config{}, cli.UsageError{Err: errors.New("--grace must not be negative")}
	case a.settle < 0:
		return audit.Config{}, cli.UsageError{Err: errors.New("--settle must not be negative")}
	case a.catchUp < 0:
		return audit.Config{}, cli.UsageError{Err: errors.New("--catch-up-timeout must not be negative")}
	case !a.from.IsZero() && !a.to.IsZero() && !a.from.Before(a.to):
		return audit.Config{}, cli.UsageError{Err: errors.New("--from must be before --to")}
	}
	settle := a.settle
	if settle == 0 {
		settle = -1 // audit.Config: none
	}
	group := a.group
	if a.catchUp == 0 {
		group = "" // no wait
	}
	return audit.Config{Sizes: sizes, Grace: a.grace, From: a.from, To: a.to, Settle: settle, Group: group, CatchUpTimeout: a.catchUp}, nil
}

func runAudit(ctx context.Context, args []string, stderr io.Writer) error {
	return auditCommand(ctx, args, os.Stdout, stderr)
}

// auditCommand runs counter audit: the report goes to stdout, as text or
// JSON; drift is an error (exit status 1).
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("audit", auditSummary+`.
It reads video_clicks_dead_letter, video_clicks_ingestion and every output
topic read_committed, recounts the likes of each closed window (the same
validation, Idempotency-Key deduplication, late and future likes as
dead-lettered by the workers), and compares them with the final:true
records: one final per (video, window) with likes, equal to the recount.
It prints the windows checked, matching and drifting, and one line per drift.`)
	var (
		kf      connflags.Flags
		af      auditFlags
		asJSON  bool
		timeout time.Duration
		lf      cli.LogFlags
	)
	kf.Register(fs)
	af.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	lf.Register(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	log, err := lf.Logger(stderr)
	if err != nil {
		return err
	}
	cluster, err := kf.Cluster()
	if err != nil {
		return err
	}
	cfg, err := af.config()
	if err != nil {
		return err
	}
	if timeout <= 0 {
		return cli.UsageError{Err: errors.New("--timeout must be positive")}
	}
	if cli.CheckOnly(ctx) {
		return nil
	}
	cfg.Brokers, cfg.KafkaOpts, cfg.Logger = cluster.Brokers, cluster.Opts, log
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := connect(ctx, cluster, log); err != nil {
		return err
	}
	res, err := audit.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = audit.WriteText(stdout, res)
	}
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("drift in %d of %d windows (%d malformed finals)", res.Drifting, res.Checked, res.Input.MalformedFinals)
	}
	return nil
}
