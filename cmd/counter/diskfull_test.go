package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/disk/diskspace"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends; the test is skipped where mounting is not allowed
// (not root).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a small filesystem is needed and mounting a tmpfs is not allowed here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file into dir until its filesystem has about left bytes
// free.
func fill(t *testing.T, dir string, left uint64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The processes write meanwhile: a reading of the free space can be
	// stale by the time of the allocation, which then fails with ENOSPC;
	// read again and grow the file by what is free now.
	for range 20 {
		free, err := diskspace.Free(dir)
		if err != nil {
			t.Fatal(err)
		}
		if free <= left {
			return path
		}
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Fallocate(int(f.Fd()), 0, st.Size(), int64(free-left))
		if err == nil {
			return path
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
	}
	t.Fatal("could not fill the filesystem: it keeps changing")
	return path
}

// Crash-safety issue, acceptance 5: counter dev on a small filesystem under
// load; the disk is filled past the reserve: the API refuses likes with 503,
// counter dev stops by itself within seconds with a clear error (not a
// panic, not a hang); with space freed and counter dev started again, every
// acknowledged like is counted once and counter audit finds no drift.
func TestDiskFullStopsCleanlyAndCountsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level disk test skipped in -short mode")
	}
	dir := mountTmpfs(t, 768<<20)
	kafkaPort, httpPort := freePort(t), freePort(t)
	brokers := fmt.Sprintf("127.0.0.1:%d", kafkaPort)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	args := []string{"dev", "--data-dir", dir, "--kafka-port", fmt.Sprint(kafkaPort), "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--windows", "2s,4s", "--grace", "2s", "--demo-interval", "0", "--partitions", "2", "--min-free-disk", "64MiB"}
	dev := start(t, args...)
	dev.waitLog(t, "counter is running", 60*time.Second)

	idem := &chaosLoad{base: base}
	plain := newTally()
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); idem.run(loadCtx, c, 200) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); plainHTTPLoad(loadCtx, base, 30, plain) }()

	time.Sleep(2 * time.Second)
	filler := fill(t, dir, 32<<20) // below the 64 MiB reserve
	began := time.Now()
	select {
	case err := <-dev.done:
		dev.done <- err
		if err == nil {
			t.Fatal("counter dev exited 0 on a full disk")
		}
		t.Logf("counter dev stopped %v after the disk filled up: %v", time.Since(began).Round(time.Millisecond), err)
	case <-time.After(30 * time.Second):
		t.Fatal("counter dev still running 30 s after its disk went below the reserve")
	}
	dev.mu.Lock()
	log := dev.log.String()
	dev.mu.Unlock()
	if !strings.Contains(log, "disk almost full") || strings.Contains(log, "panic") {
		t.Fatalf("counter dev's last words do not say the disk is full (or it panicked):\n%s", tail(log, 20))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	dev = start(t, args...)
	dev.waitLog(t, "counter is running", 60*time.Second)
	time.Sleep(3 * time.Second) // counting goes on
	stopLoad()
	wg.Wait()

	idem.mu.Lock()
	reqs := idem.done
	idem.mu.Unlock()
	t.Logf("idempotent: %d requests acknowledged, %d attempts refused and retried; plain: %d likes acknowledged, %d uncertain",
		len(reqs), idem.failed, sum(plain.acked), sum(plain.uncertain))
	if idem.failed == 0 {
		t.Error("no like request was refused while the disk was full")
	}
	finals := checkChaosFinals(t, []string{brokers}, reqs, 60*time.Second)
	checkTallies(t, brokers, chaosSizes, plain, nil, 60*time.Second)
	checkAudit(t, brokers, "2s", finals)
	if err := dev.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("counter dev exited with %v after SIGTERM", err)
	}
}
