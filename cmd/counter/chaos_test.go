package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/audit"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// chaosSizes are the window sizes of the chaos test.
var chaosSizes = []int64{2000, 4000}

// request is one logical like request of the chaos load: every attempt
// carries the same Idempotency-Key, and it is retried until acknowledged.
type request struct {
	video    string
	count    int
	firstTry time.Time // when the first attempt was sent
	ackTime  time.Time // event time in the acknowledging answer
	attempts int
}

// window bounds of the event time of the likes that were counted: exact
// when the first attempt was acknowledged, else anywhere from the first
// attempt to the acknowledged one (an earlier attempt may have been written
// although its answer was lost).
func (r *request) timeRange() (lo, hi int64) {
	if r.attempts == 1 {
		return r.ackTime.UnixMilli(), r.ackTime.UnixMilli()
	}
	return r.firstTry.UnixMilli(), r.ackTime.UnixMilli()
}

// chaosLoad sends idempotent like requests with Zipf-distributed videos.
type chaosLoad struct {
	base   string
	mu     sync.Mutex
	done   []*request
	failed int // attempts that got no 200
	dups   int // deliberate retries of acknowledged requests
}

func (l *chaosLoad) run(ctx context.Context, client int, videos int) {
	rng := rand.New(rand.NewPCG(uint64(client), 42))
	zipf := rand.NewZipf(rng, 1.2, 1, uint64(videos-1))
	httpc := &http.Client{Timeout: 5 * time.Second}
	for seq := 0; ctx.Err() == nil; seq++ {
		r := &request{video: fmt.Sprintf("video-%d", zipf.Uint64()), count: 1 + rng.IntN(3)}
		key := fmt.Sprintf("c%d-%d", client, seq)
		// Retry until acknowledged, past the end of the load if needed
		// (bounded: the API comes back within seconds).
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			now := time.Now()
			if r.attempts == 0 {
				r.firstTry = now
			}
			r.attempts++
			ts, ok := l.post(httpc, r, key)
			if ok {
				r.ackTime = ts
				break
			}
			l.mu.Lock()
			l.failed++
			l.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
		if r.ackTime.IsZero() {
			continue // never acknowledged: not expected anywhere
		}
		l.mu.Lock()
		l.done = append(l.done, r)
		l.mu.Unlock()
		if rng.IntN(10) == 0 { // a client that retries although it succeeded
			if _, ok := l.post(httpc, r, key); ok {
				l.mu.Lock()
				l.dups++
				l.mu.Unlock()
			}
		}
	}
}

func (l *chaosLoad) post(c *http.Client, r *request, key string) (time.Time, bool) {
	req, _ := http.NewRequest("POST", l.base+"/dev/videos/"+r.video+"/likes", strings.NewReader(fmt.Sprintf(`{"count":%d}`, r.count)))
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return time.Time{}, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, false
	}
	var ans struct {
		Accepted int `json:"accepted"`
	}
	ts, err := time.Parse(time.RFC3339Nano, resp.Header.Get(api.EventTimeHeader))
	if err := json.Unmarshal(body, &ans); err != nil || ans.Accepted != r.count {
		return time.Time{}, false
	}
	if err != nil {
		return time.Time{}, false
	}
	return ts, true
}

// Acceptance (scale-out issue) 1: a broker process, 3 worker processes and
// an API process under steady idempotent load; workers are SIGKILLed and
// restarted, then restarted one by one with SIGTERM, and the API is
// SIGKILLed. Every (video, window) then has exactly one final whose count is
// what the API acknowledged.
func TestChaosExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	dir := t.TempDir()
	kafkaPort, apiPort := freePort(t), freePort(t)
	brokers := fmt.Sprintf("127.0.0.1:%d", kafkaPort)
	common := []string{"--windows", "2s,4s", "--partitions", "4"}
	broker := start(t, "broker", "--port", fmt.Sprint(kafkaPort), "--data-dir", filepath.Join(dir, "broker"), "--min-session-timeout", "500ms")
	broker.waitLog(t, "broker ready", 20*time.Second)

	workerArgs := func(i int) []string {
		return append([]string{"worker", "--brokers", brokers, "--id", fmt.Sprint("w", i), "--state-dir", filepath.Join(dir, fmt.Sprint("w", i)),
			"--grace", "2s", "--session-timeout", "2s", "--commit-interval", "100ms"}, common...)
	}
	apiArgs := append([]string{"api", "--brokers", brokers, "--http-addr", fmt.Sprintf("127.0.0.1:%d", apiPort)}, common...)
	workers := make([]*proc, 3)
	for i := range workers {
		workers[i] = start(t, workerArgs(i)...)
	}
	api := start(t, apiArgs...)
	api.waitLog(t, "API listening", 30*time.Second)
	for _, w := range workers {
		w.waitLog(t, "partitions changed", 30*time.Second)
	}

	load := &chaosLoad{base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() { defer wg.Done(); load.run(loadCtx, c, 1000) }()
	}

	rng := rand.New(rand.NewPCG(7, 7))
	pause := func(min, max time.Duration) { time.Sleep(min + time.Duration(rng.Int64N(int64(max-min)))) }
	time.Sleep(2 * time.Second)
	for k := 0; k < 5; k++ {
		i := rng.IntN(len(workers))
		workers[i].stop(t, syscall.SIGKILL)
		t.Logf("SIGKILLed worker %d", i)
		pause(300*time.Millisecond, 2*time.Second)
		workers[i] = start(t, workerArgs(i)...)
		pause(time.Second, 2500*time.Millisecond)
	}
	for i := range workers { // rolling restart
		if err := workers[i].stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("worker %d exited with %v after SIGTERM", i, err)
		}
		workers[i] = start(t, workerArgs(i)...)
		workers[i].waitLog(t, "worker started", 20*time.Second)
		time.Sleep(time.Second)
	}
	api.stop(t, syscall.SIGKILL)
	t.Log("SIGKILLed the API")
	pause(200*time.Millisecond, time.Second)
	api = start(t, apiArgs...)
	api.waitLog(t, "API listening", 30*time.Second)
	time.Sleep(2 * time.Second)
	stopLoad()
	wg.Wait()

	load.mu.Lock()
	reqs := load.done
	t.Logf("%d requests acknowledged, %d failed attempts retried, %d deliberate duplicates", len(reqs), load.failed, load.dups)
	load.mu.Unlock()
	if len(reqs) < 100 {
		t.Fatalf("only %d requests acknowledged: the load did not run", len(reqs))
	}
	finals := checkChaosFinals(t, []string{brokers}, reqs, 60*time.Second)
	checkAudit(t, brokers, "2s", finals)
}

// checkAudit runs counter audit over the chaos output: recounting every
// window from the ingestion topic on its own, it must agree with every one
// of the finals (acceptance 4 of issue 9).
func checkAudit(t *testing.T, brokers, grace string, finals int) {
	t.Helper()
	res := runAuditProcess(t, brokers, "--windows", "2s,4s", "--grace", grace, "--settle", "1s")
	t.Logf("audit: %d windows checked, %d matching, %d drifting; input %+v", res.Checked, res.Matching, res.Drifting, res.Input)
	if !res.OK() || res.Checked < finals {
		t.Errorf("audit of the chaos output: %d of %d windows drift (%d malformed finals), %d checked for %d finals: %+v",
			res.Drifting, res.Checked, res.Input.MalformedFinals, res.Checked, finals, res.Drifts[:min(10, len(res.Drifts))])
	}
}

// runAuditProcess runs counter audit --json against brokers and returns its
// result; it fails the test if the command fails other than by drift.
func runAuditProcess(t *testing.T, brokers string, args ...string) audit.Result {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"audit", "--brokers", brokers, "--json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res audit.Result
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("counter audit: %v, %v\n%s%s", err, jerr, out, stderr.String())
	}
	if err != nil && res.OK() {
		t.Fatalf("counter audit failed without drift: %v\n%s", err, stderr.String())
	}
	return res
}

// checkChaosFinals waits for the finals of every window the requests touch
// and checks them (the finals of other videos are not its business): one final per (video, window); per video, the finals add
// up to the acknowledged likes; per window, the final lies between the likes
// known to be in it and those that may be in it. It returns the number of
// finals. (It checks the finals against what the clients were told, which
// counter audit, recounting from the ingestion topic, cannot.)
func checkChaosFinals(t *testing.T, brokers []string, reqs []*request, timeout time.Duration) int {
	t.Helper()
	type wkey struct {
		size  int64
		video string
		start int64
	}
	exact := map[wkey]uint64{}
	maybe := map[wkey]uint64{}
	total := map[string]uint64{}
	ambiguous := 0
	for _, r := range reqs {
		total[r.video] += uint64(r.count)
		lo, hi := r.timeRange()
		for _, size := range chaosSizes {
			if lo == hi {
				exact[wkey{size, r.video, window.Of(hi, size).Start}] += uint64(r.count)
				continue
			}
			// The API stamps at or after the client sent (one clock), but
			// truncates to the millisecond: hence lo-1.
			first, last := window.Of(lo-1, size), window.Of(hi, size)
			if size == chaosSizes[0] {
				ambiguous++
			}
			for s := first.Start; s <= last.Start; s += size {
				maybe[wkey{size, r.video, s}] += uint64(r.count)
			}
		}
	}
	var names []string
	for _, s := range chaosSizes {
		names = append(names, topics.Output(window.NewSize(s)))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(names...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	finals := map[wkey]uint64{}
	sums := map[int64]map[string]uint64{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	complete := func() bool {
		for _, size := range chaosSizes {
			for v, n := range total {
				if sums[size][v] < n {
					return false
				}
			}
		}
		return true
	}
	for !complete() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			var short []string
			for _, size := range chaosSizes {
				for v, n := range total {
					if sums[size][v] != n {
						short = append(short, fmt.Sprintf("%s/%dms: finals %d, acknowledged %d", v, size, sums[size][v], n))
					}
				}
			}
			sort.Strings(short)
			t.Fatalf("after %v, %d videos' finals do not add up to the acknowledged likes: %v", timeout, len(short), short[:min(10, len(short))])
		}
		fs.EachRecord(func(r *kgo.Record) {
			a, err := record.ParseAggregation(r.Value)
			if err != nil || !a.Final {
				return
			}
			if _, ok := total[a.VideoUID]; !ok {
				return // a video of another load
			}
			size := a.WindowEnd.Sub(a.WindowStart).Milliseconds()
			k := wkey{size, a.VideoUID, a.WindowStart.UnixMilli()}
			if prev, dup := finals[k]; dup {
				t.Errorf("two finals for %+v: %d and %d", k, prev, a.Count)
			}
			finals[k] = a.Count
			if sums[size] == nil {
				sums[size] = map[string]uint64{}
			}
			sums[size][a.VideoUID] += a.Count
		})
	}
	// Duplicate finals, if any, show up within a few commit intervals.
	dupCtx, dupCancel := context.WithTimeout(ctx, time.Second)
	defer dupCancel()
	cl.PollFetches(dupCtx).EachRecord(func(r *kgo.Record) {
		if a, err := record.ParseAggregation(r.Value); err == nil && a.Final && total[a.VideoUID] > 0 {
			t.Errorf("a final after all were complete: %s", r.Value)
		}
	})
	for _, size := range chaosSizes {
		for v, n := range total {
			if sums[size][v] != n {
				t.Errorf("%s, %d ms windows: finals add up to %d, acknowledged %d", v, size, sums[size][v], n)
			}
		}
	}
	for k, got := range finals {
		if got < exact[k] || got > exact[k]+maybe[k] {
			t.Errorf("%+v: final %d, want %d (+ up to %d from retried requests)", k, got, exact[k], maybe[k])
		}
	}
	for k, want := range exact {
		if _, ok := finals[k]; !ok && want > 0 {
			t.Errorf("%+v: no final, want %d", k, want)
		}
	}
	t.Logf("%d finals checked; %d requests had retried attempts with an uncertain window", len(finals), ambiguous)
	return len(finals)
}
