package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
)

// opsAddr returns a free local address for --metrics-addr.
func opsAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

// remoteWorker joins the workers' group as worker id would, from another
// address (127.0.0.2: another machine, as the broker sees it), and stays
// until the test ends.
func remoteWorker(t *testing.T, brokers, id string) {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	testkit.GroupMember(t, kgo.SeedBrokers(brokers), kgo.Dialer(dialer.DialContext), kgo.ClientID(topics.WorkerClientIDPrefix+id),
		kgo.ConsumerGroup(topics.WorkersGroup), kgo.ConsumeTopics(topics.Ingestion, topics.Partitioned),
		kgo.SessionTimeout(2*time.Second), kgo.HeartbeatInterval(300*time.Millisecond))
}

// waitMember waits until the workers' group is stable with a member of
// worker id id (every partition assigned is not enough: the group can be
// stable without that member, which has not joined yet).
func (c *cluster) waitMember(id string) {
	c.t.Helper()
	adm := c.admin()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if d, err := adm.DescribeGroups(context.Background(), topics.WorkersGroup); err == nil {
			g := d[topics.WorkersGroup]
			for _, m := range g.Members {
				if m.ClientID == topics.WorkerClientIDPrefix+id && g.State == "Stable" {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("no stable group with a member of worker id %s after 30s", id)
}

// Issue 13: a worker whose --id a live worker on another machine uses
// refuses to start, with a clear error, once the group has been stable for
// the session timeout and a margin; it never joined, so the other worker
// is untouched.
func TestSecondWorkerWithTheSameIDIsRefused(t *testing.T) {
	c := newCluster(t, "--windows", "2s", "--partitions", "2", "--session-timeout", "2s")
	ops := opsAddr(t)
	c.startWorker("other", "--metrics-addr", ops) // creates the topics
	waitReady(t, "http://"+ops, 30*time.Second)
	remoteWorker(t, c.brokers, "same")
	c.waitMember("same") // the group has settled with the remote member

	began := time.Now()
	second := c.startWorker("same")
	code, log := second.exited(t, 30*time.Second)
	took := time.Since(began)
	if code != 1 || !strings.Contains(log, "another worker with --id same is running") || !strings.Contains(log, "from 127.0.0.2") {
		t.Fatalf("second worker: exit %d after %v, want 1 and the duplicate error:\n%s", code, took, tail(log, 20))
	}
	if took < 4*time.Second {
		t.Errorf("refused after %v, before the session timeout (2s) and the margin (2s)", took)
	}
	t.Logf("worker refused after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(tail(log, 2)))
}

// A worker SIGKILLed and restarted with the same id on the same machine
// starts at once, dynamic or static: its old member is taken for its
// previous run.
func TestWorkerRestartsAtOnceAfterACrash(t *testing.T) {
	c := newCluster(t, "--windows", "2s", "--partitions", "2", "--session-timeout", "8s")
	for _, extra := range [][]string{nil, {"--instance-id", "st"}} {
		id := "dyn"
		if extra != nil {
			id = "st"
		}
		ops := opsAddr(t)
		first := c.startWorker(id, append(extra, "--metrics-addr", ops)...)
		waitReady(t, "http://"+ops, 30*time.Second)
		first.cmd.Process.Kill()
		<-first.done
		began := time.Now()
		ops = opsAddr(t)
		again := c.startWorker(id, append(extra, "--metrics-addr", ops)...)
		again.waitLog(t, "worker started", 20*time.Second)
		took := time.Since(began)
		if len(again.logs("a member of the group already has this worker's id: waiting for its session to expire (a run that crashed) or refusing to start (another live worker with the same --id)")) > 0 {
			t.Errorf("%s: the restarted worker waited for its previous run", id)
		}
		if took > 5*time.Second {
			t.Errorf("%s: started after %v, want at once", id, took)
		}
		t.Logf("%s restarted after SIGKILL, started after %v", id, took.Round(time.Millisecond))
		waitReady(t, "http://"+ops, 30*time.Second)
	}
}

// Two live workers with the same --id on one machine (each with its own
// state dir) look like a restart to each other: the second starts, fences
// the first, and the first stops with the duplicate error instead of
// fencing it back. Static members learn it from the group
// (FENCED_INSTANCE_ID) even without input; dynamic ones from their producer.
func TestFencedWorkerStopsForALiveDuplicate(t *testing.T) {
	for _, tc := range []struct{ instance, demo string }{{"twin", "0"}, {"twin", "200ms"}, {"", "200ms"}} {
		t.Run(fmt.Sprintf("instance-id=%s,demo-interval=%s", tc.instance, tc.demo), func(t *testing.T) {
			fencedWorkerStops(t, tc.instance, tc.demo)
		})
	}
}

func fencedWorkerStops(t *testing.T, instance, demo string) {
	c := newCluster(t, "--windows", "2s", "--partitions", "2", "--session-timeout", "2s", "--demo-interval", demo)
	var extra []string
	if instance != "" {
		extra = []string{"--instance-id", instance}
	}
	ops := opsAddr(t)
	first := c.startWorker("twin", append(extra, "--metrics-addr", ops)...)
	waitReady(t, "http://"+ops, 30*time.Second)
	ops2 := opsAddr(t)
	began := time.Now()
	second := start(t, append([]string{"worker", "--brokers", c.brokers, "--id", "twin", "--state-dir", filepath.Join(c.dir, "twin-again"),
		"--windows", "2s", "--partitions", "2", "--session-timeout", "2s", "--demo-interval", demo, "--metrics-addr", ops2}, extra...)...)
	code, log := first.exited(t, 30*time.Second)
	if code != 1 || !strings.Contains(log, "another worker with --id twin is running") {
		t.Fatalf("first worker: exit %d, want 1 and the duplicate error:\n%s", code, tail(log, 20))
	}
	t.Logf("fenced first worker stopped after %v: %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(tail(log, 2)))
	waitReady(t, "http://"+ops2, 30*time.Second)
	if err := second.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("second worker exited with %v", err)
	}
}
