package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/apinode"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
)

// Issue 13, acceptance 2: against an embedded cluster of three broker nodes
// (counter broker --nodes 3), the topics are created replicated three times
// with min.insync.replicas 2 without any flag, and two worker processes and
// an API process count every acknowledged like exactly once.
func TestThreeNodeClusterCountsExactly(t *testing.T) {
	dir := t.TempDir()
	b := start(t, "broker", "--port", "0", "--nodes", "3", "--data-dir", filepath.Join(dir, "broker"), "--min-session-timeout", "500ms")
	var addrs []string
	for _, a := range b.waitLog(t, "broker ready", 20*time.Second)["addrs"].([]any) {
		addrs = append(addrs, a.(string))
	}
	if len(addrs) != 3 {
		t.Fatalf("broker addrs %v, want 3", addrs)
	}
	brokers := strings.Join(addrs, ",")
	common := []string{"--brokers", brokers, "--windows", "2s,4s", "--partitions", "3"}
	var workers []*proc
	for _, id := range []string{"w1", "w2"} {
		workers = append(workers, start(t, append([]string{"worker", "--id", id, "--state-dir", filepath.Join(dir, id),
			"--grace", "1s", "--session-timeout", "2s"}, common...)...))
	}
	api := start(t, append([]string{"api", "--http-addr", "127.0.0.1:0", "--grace", "1s"}, common...)...)
	base := "http://" + api.waitLog(t, "API listening", 30*time.Second)["http"].(string)

	ld := &loader{acked: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	ld.run(ctx, base, []string{"alpha", "beta", "gamma", "delta", "epsilon"})
	cancel()
	if len(ld.acked) == 0 {
		t.Fatalf("no like acknowledged out of %d", ld.sent)
	}
	waitTotals(t, addrs, []string{"2s", "4s"}, ld.acked, 30*time.Second)
	t.Logf("%d requests, acknowledged likes %v: finals exact", ld.sent, ld.acked)

	// Every topic, the API's included, replicated three times.
	sizes, err := (&topicFlags{windows: []string{"2s", "4s"}}).sizes()
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	report, err := topics.Inspect(rctx, testkit.Admin(t, addrs), append(topics.Pipeline(sizes), apinode.Topics()...), topics.Spec{Partitions: 3, Replication: 3, MinInsyncReplicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range report {
		if s.Replication != 3 || s.MinInsync != "2" || len(s.Problems) > 0 {
			t.Errorf("topic %s: replication %d, min.insync.replicas %q, problems %v; want 3, 2, none", s.Name, s.Replication, s.MinInsync, s.Problems)
		}
	}
	out, err := exec.Command(binary, "topics", "describe", "--brokers", brokers, "--windows", "2s,4s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "wanted: replication factor 3, min.insync.replicas 2") {
		t.Errorf("counter topics describe: %v\n%s", err, out)
	}

	for _, p := range append(workers, api, b) {
		if err := p.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s exited with %v", p.cmd.Args[1], err)
		}
	}
}
