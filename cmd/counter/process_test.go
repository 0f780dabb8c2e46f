package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
)

var binary string

func TestMain(m *testing.M) { testkit.MainWithCounter(m, ".", &binary) }

// proc is a running counter process whose JSON logs are scanned.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	done  chan error
	log   strings.Builder
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv starts a process with env added to the test's environment.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, append(args, "--log-format", "json")...), done: make(chan error, 1)}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines = append(p.lines, m)
			}
			p.mu.Unlock()
		}
	}()
	go func() { <-scanned; p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if d := os.Getenv("COUNTER_TEST_LOG_DIR"); d != "" {
			p.mu.Lock()
			os.WriteFile(filepath.Join(d, fmt.Sprintf("%s-%d.log", args[0], p.cmd.Process.Pid)), []byte(p.log.String()), 0o644)
			p.mu.Unlock()
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("log of %v:\n%s", args, tail(p.log.String(), 60))
			p.mu.Unlock()
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitLog waits for a log line with msg and returns it.
func (p *proc) waitLog(t *testing.T, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, l := range p.lines {
			if l["msg"] == msg {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case err := <-p.done:
			t.Fatalf("process exited (%v) before logging %q", err, msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %q log line after %v", msg, timeout)
	return nil
}

func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("process did not stop within 30s")
		return nil
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// loader posts likes and keeps a log of the acknowledged ones.
type loader struct {
	mu    sync.Mutex
	acked map[string]int
	sent  int
}

func (l *loader) run(ctx context.Context, base string, videos []string) {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		v := videos[i%len(videos)]
		n := 1 + i%3
		resp, err := client.Post(base+"/dev/videos/"+v+"/likes", "application/json", strings.NewReader(fmt.Sprintf(`{"count":%d}`, n)))
		l.mu.Lock()
		l.sent++
		if err == nil && resp.StatusCode == http.StatusOK {
			l.acked[v] += n
		}
		l.mu.Unlock()
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Acceptance 5: SIGTERM counter dev mid-stream, start it again on the same
// data dir: counts go on, none lost or doubled.
func TestDevRestartKeepsCountsExact(t *testing.T) {
	dir := t.TempDir()
	kafkaPort := freePort(t)
	args := []string{"dev", "--data-dir", dir, "--kafka-port", fmt.Sprint(kafkaPort), "--http-addr", "127.0.0.1:0",
		"--windows", "2s,4s", "--grace", "1s", "--demo-interval", "0", "--partitions", "3"}
	videos := []string{"alpha", "beta", "gamma", "delta"}
	ld := &loader{acked: map[string]int{}}

	for round := 0; round < 2; round++ {
		p := start(t, args...)
		base := "http://" + p.waitLog(t, "counter is running", 30*time.Second)["http"].(string)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		ld.run(ctx, base, videos)
		cancel()
		if round == 0 {
			// Stop while likes are still being counted.
			if err := p.stop(t, syscall.SIGTERM); err != nil {
				t.Fatalf("counter dev exited with %v after SIGTERM", err)
			}
			continue
		}
		brokers := []string{fmt.Sprintf("127.0.0.1:%d", kafkaPort)}
		waitTotals(t, brokers, []string{"2s", "4s"}, ld.acked, 20*time.Second)
		if err := p.stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("counter dev exited with %v after SIGTERM", err)
		}
	}
	t.Logf("%d requests, acknowledged likes %v", ld.sent, ld.acked)
}

// waitTotals reads the output topics until, for every size, each video's
// finals add up to its acknowledged likes; any (video, window) with two
// finals fails the test. conn are the options of a secured connection.
func waitTotals(t *testing.T, brokers []string, sizes []string, acked map[string]int, timeout time.Duration, conn ...kgo.Opt) {
	t.Helper()
	var names []string
	for _, s := range sizes {
		sz, err := window.ParseSize(s)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, topics.Output(sz))
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(names...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, conn...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	type key struct {
		typ, video string
		start      int64
	}
	finals := map[key]uint64{}
	totals := map[string]map[string]uint64{} // type -> video -> sum of finals
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	settle := time.Time{} // when the totals first matched; they must stay so for a second
	for {
		done := true
		for _, s := range sizes {
			for v, n := range acked {
				if totals[s][v] != uint64(n) {
					done = false
				}
			}
		}
		switch {
		case done && settle.IsZero():
			settle = time.Now()
		case done && time.Since(settle) > time.Second:
			return
		case !done && !settle.IsZero():
			t.Fatalf("finals went past the acknowledged likes: totals %v, acknowledged %v", totals, acked)
		}
		pollCtx, pollCancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		pollCancel()
		if ctx.Err() != nil && !done {
			t.Fatalf("finals do not add up to the acknowledged likes after %v: totals %v, acknowledged %v", timeout, totals, acked)
		}
		fs.EachRecord(func(r *kgo.Record) {
			a, err := record.ParseAggregation(r.Value)
			if err != nil {
				t.Errorf("bad output %q: %v", r.Value, err)
				return
			}
			if !a.Final {
				return
			}
			k := key{a.Type, a.VideoUID, a.WindowStart.UnixMilli()}
			if prev, dup := finals[k]; dup {
				t.Errorf("two finals for %v: %d and %d", k, prev, a.Count)
			}
			finals[k] = a.Count
			if totals[a.Type] == nil {
				totals[a.Type] = map[string]uint64{}
			}
			totals[a.Type][a.VideoUID] += a.Count
		})
	}
}

// Acceptance (scale-out issue) 5: the same Idempotency-Key twice: the likes
// are counted once and both answers have the same body.
func TestIdempotencyKeyThroughTheAPI(t *testing.T) {
	kafkaPort := freePort(t)
	p := start(t, "dev", "--data-dir", t.TempDir(), "--kafka-port", fmt.Sprint(kafkaPort), "--http-addr", "127.0.0.1:0",
		"--windows", "2s", "--grace", "500ms", "--demo-interval", "0", "--partitions", "2")
	base := "http://" + p.waitLog(t, "counter is running", 30*time.Second)["http"].(string)
	waitReady(t, base, 30*time.Second) // the live view and both workers
	post := func(key string) string {
		req, _ := http.NewRequest("POST", base+"/dev/videos/idem-video/likes", strings.NewReader(`{"count":3}`))
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	first, second := post("order-1"), post("order-1")
	if first != second {
		t.Errorf("retry answered %q, the original %q", second, first)
	}
	post("order-2") // another request: counted
	waitTotals(t, []string{fmt.Sprintf("127.0.0.1:%d", kafkaPort)}, []string{"2s"}, map[string]int{"idem-video": 6}, 20*time.Second)
	p.stop(t, syscall.SIGTERM)
}
