package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
)

// startCluster starts an in-memory embedded broker of n nodes.
func startCluster(t *testing.T, n int) string { return strings.Join(testkit.StartCluster(t, n), ",") }

func runTopicsCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err := topicsCommand(ctx, args, &out, &errb)
	return out.String() + errb.String(), err
}

// counter topics: describe flags missing topics, create makes them all
// (replicated three times on three nodes), describe then finds nothing
// wrong; a topic of the wrong shape is an error for describe and for the
// start-up of a worker and an API.
func TestTopicsCommand(t *testing.T) {
	brokers := startCluster(t, 3)
	out, err := runTopicsCmd(t, "describe", "--brokers", brokers, "--windows", "1m,2s")
	if err == nil || !strings.Contains(out, "ERROR: topic video_clicks_ingestion: missing") || !strings.Contains(out, "ERROR: topic videos: missing") {
		t.Fatalf("describe before create: %v\n%s", err, out)
	}
	out, err = runTopicsCmd(t, "create", "--brokers", brokers, "--windows", "1m,2s", "--partitions", "3")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	out, err = runTopicsCmd(t, "describe", "--brokers", brokers, "--windows", "1m,2s")
	if err != nil {
		t.Fatalf("describe after create: %v\n%s", err, out)
	}
	for _, want := range []string{
		"video_clicks_ingestion      3           3            delete          2                    ok",
		"counter_state_changelog     3           3            compact         2                    ok",
		"video_aggregations_2s       3           3            delete          2                    ok",
		"videos                      1           3            compact         2                    ok",
		"counter_generator_election  1           3            delete          2                    ok",
		"wanted: replication factor 3, min.insync.replicas 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	t.Logf("counter topics describe:\n%s", out)

	// The 5m output topic, compacted by someone: describe and start-up
	// refuse it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "video_aggregations_5"); err != nil {
		t.Fatal(err)
	}
	out, err = runTopicsCmd(t, "describe", "--brokers", brokers, "--windows", "1m,5m")
	want := `ERROR: topic video_aggregations_5: cleanup.policy is "compact", must not include compact`
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("describe of a compacted output topic: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"worker", "--brokers", brokers, "--windows", "1m,5m", "--id", "w", "--state-dir", t.TempDir()},
		{"api", "--brokers", brokers, "--windows", "1m,5m", "--http-addr", "127.0.0.1:0"},
	} {
		var errb bytes.Buffer
		began := time.Now()
		if code := run(ctx, args, &errb, &errb); code != 1 || !strings.Contains(errb.String(), "topic video_aggregations_5: cleanup.policy") {
			t.Errorf("counter %s on a compacted output topic: exit %d:\n%s", args[0], code, errb.String())
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("counter %s took %v to refuse the topics: no retrying a wrong topic", args[0], d)
		}
	}
}

// A changelog whose partition count differs from the partitioned topic's
// stops a worker at start-up with the reason.
func TestWorkerRefusesMismatchedChangelog(t *testing.T) {
	brokers := startCluster(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, topics.Partitioned); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topics.Changelog); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	code := run(ctx, []string{"worker", "--brokers", brokers, "--id", "w", "--state-dir", t.TempDir()}, &errb, &errb)
	want := "topic counter_state_changelog: 2 partitions, but video_clicks_partitioned has 4: they must match"
	if code != 1 || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d, want 1 and %q:\n%s", code, want, errb.String())
	}
}
