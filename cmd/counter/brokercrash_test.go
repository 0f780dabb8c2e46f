package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// running fails the test for every process of ps that has exited.
func running(t *testing.T, what string, ps ...*proc) {
	t.Helper()
	for i, p := range ps {
		select {
		case err := <-p.done:
			p.done <- err
			t.Errorf("%s %d exited: %v", what, i, err)
		default:
		}
	}
}

// Crash-safety issue, acceptance 2: counter broker is SIGKILLed and started
// again on its data dir, several times, under separate worker and API
// processes and steady idempotent load. No worker exits, and every (video,
// window) gets exactly one final equal to the acknowledged likes.
func TestBrokerCrashExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level crash test skipped in -short mode")
	}
	began := time.Now()
	dir := t.TempDir()
	kafkaPort, apiPort := freePort(t), freePort(t)
	brokers := fmt.Sprintf("127.0.0.1:%d", kafkaPort)
	common := []string{"--windows", "2s,4s", "--partitions", "4"}
	brokerArgs := []string{"broker", "--port", fmt.Sprint(kafkaPort), "--data-dir", filepath.Join(dir, "broker"), "--min-session-timeout", "500ms"}
	broker := start(t, brokerArgs...)
	broker.waitLog(t, "broker ready", 20*time.Second)
	workers := make([]*proc, 2)
	for i := range workers {
		workers[i] = start(t, append([]string{"worker", "--brokers", brokers, "--id", fmt.Sprint("w", i), "--state-dir", filepath.Join(dir, fmt.Sprint("w", i)),
			"--grace", "2s", "--session-timeout", "2s", "--commit-interval", "100ms"}, common...)...)
	}
	api := start(t, append([]string{"api", "--brokers", brokers, "--http-addr", fmt.Sprintf("127.0.0.1:%d", apiPort)}, common...)...)
	api.waitLog(t, "API listening", 30*time.Second)
	for _, w := range workers {
		w.waitLog(t, "partitions changed", 30*time.Second)
	}

	load := &chaosLoad{base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); load.run(loadCtx, c, 500) }()
	}
	rng := rand.New(rand.NewPCG(11, 11))
	pause := func(min, max time.Duration) { time.Sleep(min + time.Duration(rng.Int64N(int64(max-min)))) }
	pause(time.Second, 2*time.Second)
	for k := range 3 {
		broker.stop(t, syscall.SIGKILL)
		t.Logf("SIGKILLed the broker (%d) at %v", k+1, time.Since(began).Round(time.Millisecond))
		pause(100*time.Millisecond, time.Second)
		broker = start(t, brokerArgs...)
		broker.waitLog(t, "broker ready", 60*time.Second)
		t.Logf("broker ready at %v", time.Since(began).Round(time.Millisecond))
		pause(2*time.Second, 4*time.Second)
		running(t, "worker", workers...)
	}
	time.Sleep(2 * time.Second)
	stopLoad()
	wg.Wait()
	running(t, "worker", workers...)
	running(t, "api", api)

	load.mu.Lock()
	reqs := load.done
	t.Logf("%d requests acknowledged, %d failed attempts retried, %d deliberate duplicates", len(reqs), load.failed, load.dups)
	load.mu.Unlock()
	if len(reqs) < 100 {
		t.Fatalf("only %d requests acknowledged: the load did not run", len(reqs))
	}
	t.Logf("load stopped at %v", time.Since(began).Round(time.Millisecond))
	finals := checkChaosFinals(t, []string{brokers}, reqs, 90*time.Second)
	checkAudit(t, brokers, "2s", finals)
	t.Logf("finals checked at %v", time.Since(began).Round(time.Millisecond))
	running(t, "worker", workers...)
}
