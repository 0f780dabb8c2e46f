package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// cluster is a broker process and worker processes for scale-out tests.
type cluster struct {
	t       *testing.T
	dir     string
	brokers string
	workers map[string]*proc
	extra   []string
}

func newCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	b := start(t, "broker", "--port", fmt.Sprint(port), "--data-dir", filepath.Join(dir, "broker"), "--min-session-timeout", "500ms")
	b.waitLog(t, "broker ready", 20*time.Second)
	return &cluster{t: t, dir: dir, brokers: fmt.Sprintf("127.0.0.1:%d", port), workers: map[string]*proc{}, extra: extra}
}

func (c *cluster) startWorker(id string, extra ...string) *proc {
	c.t.Helper()
	args := append([]string{"worker", "--brokers", c.brokers, "--id", id, "--state-dir", filepath.Join(c.dir, id)}, c.extra...)
	p := start(c.t, append(args, extra...)...)
	c.workers[id] = p
	return p
}

func (c *cluster) admin() *kadm.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// owners returns the worker id owning each partition of the partitioned
// topic, once every partition is owned.
func (c *cluster) owners(parts int) map[int32]string {
	c.t.Helper()
	adm := c.admin()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := map[int32]string{}
		if d, err := adm.DescribeGroups(context.Background(), "counter-workers"); err == nil {
			for _, m := range d["counter-workers"].Members {
				if ca, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range ca.Topics {
						if tp.Topic == topics.Partitioned {
							for _, p := range tp.Partitions {
								out[p] = strings.TrimPrefix(m.ClientID, "counter-worker-")
							}
						}
					}
				}
			}
		}
		if len(out) == parts {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("partitions not all assigned after 30s")
	return nil
}

// logs returns the log lines of p with msg.
func (p *proc) logs(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// failoverMargin is added to the failover bound for a loaded test machine.
const failoverMargin = 5 * time.Second

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Acceptance (scale-out issue) 2 and 3: with a large state, SIGKILL the
// owner of a partition; its standby takes over replaying only the changelog
// tail, and output resumes within session timeout + 3 s. The assertion has a
// generous margin (the machine also runs the other packages' tests); the
// real figure is logged and recorded in BENCHMARKS.md.
// COUNTER_FAILOVER_KEYS sets the state size (default 200000; the issue's
// figure is 1000000, see BENCHMARKS.md).
func TestFailoverToStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test skipped in -short mode")
	}
	keys := envInt("COUNTER_FAILOVER_KEYS", 200000)
	const session = 3 * time.Second
	c := newCluster(t, "--windows", "10m", "--grace", "2s", "--partitions", "2", "--session-timeout", session.String(), "--standby-replicas", "1")
	for _, id := range []string{"a", "b"} {
		c.startWorker(id)
	}
	owners := c.owners(2)

	// Build the state: keys distinct videos, one like each.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers), kgo.DefaultProduceTopic(topics.Ingestion),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	began := time.Now()
	ctx := context.Background()
	for i := 0; i < keys; i++ {
		cl.Produce(ctx, &kgo.Record{Value: []byte("k" + strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The trickle video lives on partition 0.
	probe := ""
	for i := 0; probe == ""; i++ {
		if v := fmt.Sprintf("probe-%d", i); partition.ForKey([]byte(v), 2) == 0 {
			probe = v
		}
	}
	victim := owners[0]
	out, err := kgo.NewClient(kgo.SeedBrokers(c.brokers), kgo.ConsumeTopics("video_aggregations_10"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// Wait until all likes are counted and the standby has caught up:
	// output for the probe shows the pipeline is through.
	waitProbe := func(after time.Time, timeout time.Duration) time.Time {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for {
			if err := cl.ProduceSync(pctx, &kgo.Record{Key: []byte(probe), Value: []byte(probe)}).FirstErr(); err != nil {
				t.Fatalf("no output for %s within %v: %v", probe, timeout, err)
			}
			fctx, fcancel := context.WithTimeout(pctx, 200*time.Millisecond)
			fs := out.PollFetches(fctx)
			fcancel()
			var seen time.Time
			fs.EachRecord(func(r *kgo.Record) {
				if a, err := record.ParseAggregation(r.Value); err == nil && a.VideoUID == probe && r.Timestamp.After(after) {
					seen = time.Now()
				}
			})
			if !seen.IsZero() {
				return seen
			}
			if pctx.Err() != nil {
				t.Fatalf("no output for %s within %v", probe, timeout)
			}
		}
	}
	adm := c.admin()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		lags, err := adm.Lag(ctx, "counter-workers")
		if err == nil && lags["counter-workers"].Lag.Total() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state of %d keys not built after 5 minutes", keys)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("state of %d keys built in %v", keys, time.Since(began).Round(time.Millisecond))
	waitProbe(time.Time{}, 30*time.Second)
	time.Sleep(3 * time.Second) // standby tails the last records

	killed := time.Now()
	c.workers[victim].stop(t, syscall.SIGKILL)
	resumed := waitProbe(killed, session+20*time.Second)
	took := resumed.Sub(killed)
	survivor := map[string]string{"a": "b", "b": "a"}[victim]
	var replayed int64 = -1
	for _, l := range c.workers[survivor].logs("partition ready") {
		if l["partition"] == float64(0) {
			replayed = int64(l["replayed"].(float64))
		}
	}
	t.Logf("failover with %d keys of state: output resumed %v after SIGKILL (session timeout %v); the standby replayed %d changelog records",
		keys, took.Round(time.Millisecond), session, replayed)
	if took > session+3*time.Second+failoverMargin {
		t.Errorf("output resumed %v after the SIGKILL, more than session timeout + 3s (+ %v margin for a loaded machine)", took, failoverMargin)
	}
	if replayed < 0 || replayed > int64(keys/20) {
		t.Errorf("the standby replayed %d changelog records for a state of %d keys: not warm", replayed, keys)
	}
}

// Acceptance (scale-out issue) 4: a static member restarted within the
// session timeout gets its partitions back without a rebalance.
func TestStaticMembershipRestartWithoutRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	c := newCluster(t, "--windows", "2s", "--partitions", "4", "--session-timeout", "8s")
	a := c.startWorker("a", "--instance-id", "a")
	c.startWorker("b", "--instance-id", "b")
	c.owners(4)
	time.Sleep(2 * time.Second) // let the group settle (a cooperative rebalance can take two rounds)
	// The assignment to keep is the settled one, read with the count of
	// a's changes that goes with it.
	before := c.owners(4)
	changes := len(a.logs("partitions changed"))

	if err := c.workers["b"].stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("worker b exited with %v", err)
	}
	b := c.startWorker("b", "--instance-id", "b")
	b.waitLog(t, "partitions changed", 20*time.Second)
	after := c.owners(4)
	time.Sleep(2 * time.Second)
	if got := len(a.logs("partitions changed")); got != changes {
		t.Errorf("worker a saw %d partition changes while b restarted", got-changes)
	}
	for p, owner := range before {
		if after[p] != owner {
			t.Errorf("partition %d moved from %s to %s", p, owner, after[p])
		}
	}
	re := regexp.MustCompile(`\d+`)
	t.Logf("assignment kept: %v; b's first assignment after restart: %v", after, re.FindAllString(fmt.Sprint(b.logs("partitions changed")[0]["partitions"]), -1))
}
