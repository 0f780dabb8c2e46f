package main

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exited waits for p to exit by itself and returns its exit status and log.
func (p *proc) exited(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	select {
	case err := <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, p.log.String()
		case errors.As(err, &ee):
			return ee.ExitCode(), p.log.String()
		default:
			t.Fatalf("waiting for %v: %v", p.cmd.Args, err)
		}
	case <-time.After(timeout):
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Fatalf("%v still running after %v; log:\n%s", p.cmd.Args[1:], timeout, tail(p.log.String(), 20))
	}
	return 0, ""
}

// Issue 10, acceptance 4: a second counter dev, counter broker or counter
// worker on a directory in use exits at once, non-zero, naming the
// directory and the pid holding it; the first instance keeps counting.
func TestSecondInstanceOnADataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	kafkaPort := freePort(t)
	first := start(t, "dev", "--data-dir", dir, "--kafka-port", fmt.Sprint(kafkaPort), "--http-addr", "127.0.0.1:0",
		"--windows", "2s", "--grace", "500ms", "--demo-interval", "0", "--partitions", "2")
	base := "http://" + first.waitLog(t, "counter is running", 30*time.Second)["http"].(string)
	pid := fmt.Sprint(first.cmd.Process.Pid)
	brokers := fmt.Sprintf("127.0.0.1:%d", kafkaPort)

	for _, tc := range []struct {
		name, dir string
		args      []string
	}{
		{"dev", filepath.Join(dir, "broker"), []string{"dev", "--data-dir", dir, "--kafka-port", fmt.Sprint(freePort(t)),
			"--http-addr", "127.0.0.1:0", "--windows", "2s", "--demo-interval", "0", "--partitions", "2"}},
		{"broker", filepath.Join(dir, "broker"), []string{"broker", "--data-dir", filepath.Join(dir, "broker"), "--port", fmt.Sprint(freePort(t))}},
		{"worker", filepath.Join(dir, "worker-dev-1"), []string{"worker", "--brokers", brokers, "--id", "intruder",
			"--state-dir", filepath.Join(dir, "worker-dev-1"), "--windows", "2s", "--partitions", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			code, log := start(t, tc.args...).exited(t, 10*time.Second)
			if code == 0 {
				t.Fatalf("exit status 0, want non-zero; log:\n%s", log)
			}
			want := "directory " + tc.dir + " is in use by another process (pid " + pid + ")"
			if !strings.Contains(log, want) {
				t.Fatalf("log does not say %q:\n%s", want, tail(log, 20))
			}
			t.Logf("exit status %d after %v: %s", code, time.Since(began).Round(time.Millisecond), strings.TrimSpace(tail(log, 2)))
		})
	}

	resp, err := http.Post(base+"/dev/videos/still-counting/likes", "application/json", strings.NewReader(`{"count":2}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("like after the refused instances: %d", resp.StatusCode)
	}
	waitTotals(t, []string{brokers}, []string{"2s"}, map[string]int{"still-counting": 2}, 20*time.Second)
	if err := first.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("first instance exited with %v after SIGTERM", err)
	}
}
