package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// child is a counter worker running as a child process, so that its memory
// is its own. Its JSON logs tell when it restored its partitions.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done

	mu           sync.Mutex
	restoreStart time.Time // first "restoring partition state" log
	readyAt      time.Time // last "partition ready" log
	ready        int       // partitions ready
	replayed     int64     // changelog records replayed, over all partitions
	tail         []string  // last log lines, for errors
}

// startChild starts "counter worker" against c with an empty state
// directory, in a consumer group of its own. COUNTER_* variables of this
// process are not passed on: the flags alone configure the child.
func startChild(o Options, c *cluster, id string) (*child, error) {
	if o.Binary == "" {
		return nil, errors.New("no counter executable to run the workers with: build it (make build puts it beside counter-tools) or pass --binary")
	}
	args := []string{"worker", "--brokers", strings.Join(c.brokers, ","), "--id", id,
		"--state-dir", c.path("state-" + id), "--group", benchGroup + "-" + id,
		"--windows", strings.Join(Windows, ","), "--grace", Grace.String(),
		"--partitions", strconv.Itoa(int(c.layout[topics.Partitioned])),
		"--log-format", "json", "--log-level", "info"}
	cmd := exec.Command(o.Binary, args...)
	dieWithParent(cmd)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, cli.EnvPrefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s worker: %w", o.Binary, err)
	}
	ch := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ch.line(sc.Bytes())
		}
		ch.err = cmd.Wait()
		close(ch.done)
	}()
	return ch, nil
}

// line notes one log line of the child.
func (ch *child) line(b []byte) {
	var l struct {
		Time     time.Time `json:"time"`
		Msg      string    `json:"msg"`
		Replayed int64     `json:"replayed"`
	}
	_ = json.Unmarshal(b, &l) // other lines only go to the tail
	ch.mu.Lock()
	defer ch.mu.Unlock()
	switch l.Msg {
	case "restoring partition state from the changelog":
		if ch.restoreStart.IsZero() {
			ch.restoreStart = l.Time
		}
	case "partition ready":
		ch.ready++
		ch.readyAt = l.Time
		ch.replayed += l.Replayed
	}
	if ch.tail = append(ch.tail, string(b)); len(ch.tail) > 20 {
		ch.tail = ch.tail[1:]
	}
}

// waitReady waits until n partitions are restored and returns how many
// changelog records were replayed and how long restoring took (from the
// first partition's restore to the last partition ready; zero if nothing
// needed restoring).
func (ch *child) waitReady(ctx context.Context, n int, timeout time.Duration) (replayed int64, took time.Duration, err error) {
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ch.mu.Lock()
		ready, tail := ch.ready, strings.Join(ch.tail, "\n")
		if ready >= n {
			replayed = ch.replayed
			if !ch.restoreStart.IsZero() {
				took = ch.readyAt.Sub(ch.restoreStart)
			}
			ch.mu.Unlock()
			return replayed, took, nil
		}
		ch.mu.Unlock()
		select {
		case <-ch.done:
			return 0, 0, fmt.Errorf("worker exited (%v) with %d of %d partitions ready; its last logs:\n%s", ch.err, ready, n, tail)
		case <-deadline:
			return 0, 0, fmt.Errorf("worker not ready after %v (%d of %d partitions); its last logs:\n%s", timeout, ready, n, tail)
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-tick.C:
		}
	}
}

// memory returns the child's resident memory now (VmRSS) and at its peak
// (VmHWM), in bytes.
func (ch *child) memory() (rss, peak int64, err error) {
	path := "/proc/" + strconv.Itoa(ch.cmd.Process.Pid) + "/status"
	r, ok1 := procField(path, "VmRSS")
	p, ok2 := procField(path, "VmHWM")
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("cannot read VmRSS and VmHWM from %s", path)
	}
	return r << 10, p << 10, nil
}

// cpuTime returns the CPU time (user and system) the child has used so far,
// from /proc/<pid>/stat.
func (ch *child) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(ch.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime and stime are fields 14 and 15.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", ch.cmd.Process.Pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", ch.cmd.Process.Pid)
	}
	return time.Duration(utime+stime) * time.Second / 100, nil // USER_HZ
}

// stop asks the child to stop (SIGTERM), killing it after 20 s.
func (ch *child) stop() {
	ch.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ch.done:
	case <-time.After(20 * time.Second):
		ch.cmd.Process.Kill()
		<-ch.done
	}
}
