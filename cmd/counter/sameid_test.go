package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// opsAddr returns a free local address for --metrics-addr.
func opsAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

// waitReady waits for GET /readyz at addr to answer 200.
func waitReady(t *testing.T, p *proc, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("%v exited (%v) before it was ready", p.cmd.Args[1:], err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%v not ready after %v", p.cmd.Args[1:], timeout)
}

// Issue 13: a second live worker with the same --id (its own state dir)
// refuses to start with a clear error within the session timeout and a
// margin, and the first one keeps running unfenced; a worker restarted with
// the same id after a SIGKILL still starts (its old session is waited out),
// and a static member restarted after a SIGKILL takes its slot over at
// once.
func TestSecondWorkerWithTheSameIDIsRefused(t *testing.T) {
	c := newCluster(t, "--windows", "2s", "--partitions", "2", "--session-timeout", "2s", "--demo-interval", "200ms")
	firstOps := opsAddr(t)
	first := c.startWorker("same", "--metrics-addr", firstOps)
	waitReady(t, first, firstOps, 30*time.Second)

	began := time.Now()
	second := start(t, "worker", "--brokers", c.brokers, "--id", "same", "--state-dir", filepath.Join(c.dir, "same-again"),
		"--windows", "2s", "--partitions", "2", "--session-timeout", "2s")
	code, log := second.exited(t, 30*time.Second)
	took := time.Since(began)
	if code != 1 || !strings.Contains(log, "another worker with --id same is running") {
		t.Fatalf("second worker: exit %d after %v, want 1 and the duplicate error:\n%s", code, took, tail(log, 20))
	}
	t.Logf("second worker refused after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(tail(log, 2)))
	if n := len(first.logs("worker failed; starting it again")); n > 0 {
		t.Fatalf("the first worker failed %d times while the second tried to start", n)
	}
	waitReady(t, first, firstOps, time.Second)

	// A crash and a restart with the same id: its session is waited out.
	first.cmd.Process.Kill()
	<-first.done
	began = time.Now()
	ops := opsAddr(t)
	again := c.startWorker("same", "--metrics-addr", ops)
	waitReady(t, again, ops, 30*time.Second)
	t.Logf("worker restarted after SIGKILL ready after %v", time.Since(began).Round(time.Millisecond))
	if err := again.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("restarted worker exited with %v", err)
	}
}

// A static member (--instance-id) SIGKILLed and restarted on the same
// machine takes its slot over at once: no wait for its session.
func TestStaticWorkerRestartsAtOnceAfterACrash(t *testing.T) {
	c := newCluster(t, "--windows", "2s", "--partitions", "2", "--session-timeout", "8s")
	ops := opsAddr(t)
	first := c.startWorker("st", "--instance-id", "st", "--metrics-addr", ops)
	waitReady(t, first, ops, 30*time.Second)
	first.cmd.Process.Kill()
	<-first.done
	began := time.Now()
	ops = opsAddr(t)
	again := c.startWorker("st", "--instance-id", "st", "--metrics-addr", ops)
	waitReady(t, again, ops, 30*time.Second)
	took := time.Since(began)
	if len(again.logs("a member of the group already has this worker's id: waiting for its session to expire (a run that crashed) or refusing to start (another live worker with the same --id)")) > 0 {
		t.Errorf("the restarted static member waited for its own slot")
	}
	if took > 8*time.Second { // a wait for the slot would take 8s + 2s
		t.Errorf("ready after %v, want within the session timeout (8s)", took)
	}
	t.Logf("static worker restarted after SIGKILL ready after %v", took.Round(time.Millisecond))
}

// Two live static members with the same --id and --instance-id on one
// machine look like a restart to each other: the second takes the slot
// over, and the first, fenced, stops with the duplicate error instead of
// fencing it back.
//
// Without input (no transaction in flight), the first one learns it from
// its group membership (FENCED_INSTANCE_ID) rather than from its producer.
func TestFencedWorkerStopsForALiveDuplicate(t *testing.T) {
	for _, demo := range []string{"0", "200ms"} {
		t.Run("demo-interval="+demo, func(t *testing.T) { fencedWorkerStops(t, demo) })
	}
}

func fencedWorkerStops(t *testing.T, demo string) {
	c := newCluster(t, "--windows", "2s", "--partitions", "2", "--session-timeout", "2s", "--demo-interval", demo)
	ops := opsAddr(t)
	first := c.startWorker("twin", "--instance-id", "twin", "--metrics-addr", ops)
	waitReady(t, first, ops, 30*time.Second)
	ops2 := opsAddr(t)
	began := time.Now()
	second := start(t, "worker", "--brokers", c.brokers, "--id", "twin", "--instance-id", "twin", "--state-dir", filepath.Join(c.dir, "twin-again"),
		"--windows", "2s", "--partitions", "2", "--session-timeout", "2s", "--demo-interval", demo, "--metrics-addr", ops2)
	code, log := first.exited(t, 30*time.Second)
	if code != 1 || !strings.Contains(log, "another worker with --id twin is running") {
		t.Fatalf("first worker: exit %d, want 1 and the duplicate error:\n%s", code, tail(log, 20))
	}
	t.Logf("fenced first worker stopped after %v: %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(tail(log, 2)))
	waitReady(t, second, ops2, 30*time.Second)
	if err := second.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("second worker exited with %v", err)
	}
}
