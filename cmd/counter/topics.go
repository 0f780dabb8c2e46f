package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn/connflags"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

const topicsSummary = "create (create) or check (describe) every topic of the pipeline and the API up front (exit 1 on a problem)"

func runTopics(ctx context.Context, args []string, stderr io.Writer) error {
	return topicsCommand(ctx, args, os.Stdout, stderr)
}

// topicsCommand runs counter topics create|describe: the table of topics
// goes to stdout; a problem left is an error (exit status 1).
func topicsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("topics", topicsSummary+`.

Usage: counter topics create|describe [flags]

create makes every missing topic (--partitions, --replication-factor,
--min-insync-replicas; the changelog with the partitioned topic's count,
the API's tables with one partition), then describes them. describe
creates nothing. Both print each topic's partitions, replication factor,
cleanup.policy and min.insync.replicas, and the problems: a missing topic,
a changelog whose partition count differs from video_clicks_partitioned's,
a wrong cleanup.policy (the changelog and the API's tables must be
compact, the other topics must not), a one-partition table with more
partitions, min.insync.replicas above the replication factor (fatal: the
workers and the API refuse to start on these), and a replication factor or
min.insync.replicas below the wanted ones (warnings).`)
	var (
		kf      connflags.Flags
		pf      topicFlags
		timeout time.Duration
		lf      cli.LogFlags
	)
	kf.Register(fs)
	pf.register(fs)
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	lf.Register(fs)
	action := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	if action != "create" && action != "describe" {
		return cli.UsageError{Err: fmt.Errorf("want an action: counter topics create|describe [flags], not %q", action)}
	}
	if timeout <= 0 {
		return cli.UsageError{Err: errors.New("--timeout must be positive")}
	}
	sizes, spec, err := pf.check()
	if err != nil {
		return err
	}
	cluster, err := kf.Cluster()
	if err != nil {
		return err
	}
	log, err := lf.Logger(stderr)
	if err != nil {
		return err
	}
	if cli.CheckOnly(ctx) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := connect(ctx, cluster, log); err != nil {
		return err
	}
	cl, err := cluster.NewClient(kgo.WithLogger(kafkalog.New(log)))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	wants := append(topics.Pipeline(sizes), apinode.Topics()...)
	var report topics.Report
	if action == "create" {
		spec, report, err = topics.Provision(ctx, adm, wants, spec)
	} else if spec, err = topics.Resolve(ctx, adm, spec); err == nil {
		report, err = topics.Inspect(ctx, adm, wants, spec)
	}
	if err != nil {
		return err
	}
	if err := writeTopics(stdout, report, spec); err != nil {
		return err
	}
	if n := problems(report); n > 0 {
		return fmt.Errorf("%d problem(s) in the topics", n)
	}
	return nil
}

// writeTopics prints one line per topic, then the problems.
func writeTopics(w io.Writer, report topics.Report, spec topics.Spec) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION\tCLEANUP.POLICY\tMIN.INSYNC.REPLICAS\tSTATUS")
	for _, s := range report {
		status := "ok"
		if len(s.Problems) > 0 {
			status = fmt.Sprintf("%d problem(s)", len(s.Problems))
		}
		if !s.Exists {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", s.Name, status)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", s.Name, s.Partitions, s.Replication, s.CleanupPolicy, s.MinInsync, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	minISR := "the broker's default"
	if spec.MinInsyncReplicas > 0 {
		minISR = fmt.Sprint(spec.MinInsyncReplicas)
	}
	fmt.Fprintf(w, "\nwanted: replication factor %d, min.insync.replicas %s\n", spec.Replication, minISR)
	for _, s := range report {
		for _, p := range s.Problems {
			kind := "warning"
			if p.Fatal {
				kind = "ERROR"
			}
			if _, err := fmt.Fprintf(w, "%s: topic %s: %s\n", kind, s.Name, p.Text); err != nil {
				return err
			}
		}
	}
	return nil
}

func problems(r topics.Report) int {
	n := 0
	for _, s := range r {
		n += len(s.Problems)
	}
	return n
}
