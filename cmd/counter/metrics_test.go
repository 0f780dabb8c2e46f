package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// documentedMetric is a row of the table of docs/metrics.md.
type documentedMetric struct {
	name, typ string
	processes []string
}

// readMetricsDoc parses the table of docs/metrics.md.
func readMetricsDoc(t *testing.T) []documentedMetric {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []documentedMetric
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `counter_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Fatalf("docs/metrics.md: short row %q", line)
		}
		m := documentedMetric{name: strings.Trim(strings.TrimSpace(cells[1]), "`"), typ: strings.TrimSpace(cells[2])}
		for _, p := range strings.Split(cells[3], ",") {
			m.processes = append(m.processes, strings.TrimSpace(p))
		}
		out = append(out, m)
	}
	if len(out) < 40 {
		t.Fatalf("docs/metrics.md lists %d metrics: the table was not read", len(out))
	}
	return out
}

// scrape returns the body of url's /metrics and its metric families'
// types.
func scrape(t *testing.T, base string) (string, map[string]string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s/metrics: %d", base, resp.StatusCode)
	}
	types := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	return string(body), types
}

// compareWithDoc returns what differs between the counter_* metrics a
// process serves and those docs/metrics.md lists for it.
func compareWithDoc(doc []documentedMetric, process string, types map[string]string) []string {
	var diffs []string
	listed := map[string]bool{}
	for _, m := range doc {
		if !slices.Contains(m.processes, process) {
			continue
		}
		listed[m.name] = true
		switch got, ok := types[m.name]; {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s is documented for %s but not served", m.name, process))
		case got != m.typ:
			diffs = append(diffs, fmt.Sprintf("%s is a %s, documented as a %s", m.name, got, m.typ))
		}
	}
	for name := range types {
		if strings.HasPrefix(name, "counter_") && !listed[name] {
			diffs = append(diffs, fmt.Sprintf("%s is served by %s but not documented for it in docs/metrics.md", name, process))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// waitMetricsMatchDoc scrapes base until its counter_* metrics are those
// documented for process (labelled metrics appear with their first
// series), and returns the last body.
func waitMetricsMatchDoc(t *testing.T, doc []documentedMetric, process, base string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, types := scrape(t, base)
		diffs := compareWithDoc(doc, process, types)
		if len(diffs) == 0 {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics of counter %s against docs/metrics.md:\n  %s", process, strings.Join(diffs, "\n  "))
		}
		time.Sleep(200 * time.Millisecond) // no condition to wait on: series appear as the processes work
	}
}

// waitReady waits for base's /readyz to answer 200.
func waitReady(t *testing.T, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 after %v (%v)", base, timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // polling an endpoint: nothing to wait on
	}
}

// produceLate sends a like stamped a minute ago to the ingestion topic: its
// windows have closed.
func produceLate(t *testing.T, brokers string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: topics.Ingestion, Key: []byte("late-video"), Value: []byte("late-video"), Timestamp: time.Now().Add(-time.Minute)}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// httpDo sends a request and returns its status code.
func httpDo(t *testing.T, method, url, body string, headers ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Acceptance (issue 13) 5: the /metrics of a broker, a worker and an API
// serve exactly the metrics docs/metrics.md lists for them, and the admin
// token appears neither there nor in any log, at debug level.
func TestMetricsMatchTheDocs(t *testing.T) {
	doc := readMetricsDoc(t)
	const token = "tok-7f3e9a1c5b2d4e6f8a0b1c2d3e4f5a6b"
	kafka := fmt.Sprint(freePort(t))
	brokerOps := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	workerOps := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	common := []string{"--windows", "1s", "--grace", "200ms", "--partitions", "2", "--log-level", "debug"}
	b := start(t, "broker", "--port", kafka, "--data-dir", t.TempDir(), "--metrics-addr", brokerOps, "--log-level", "debug")
	b.waitLog(t, "broker ready", 30*time.Second)
	brokers := "127.0.0.1:" + kafka
	workerArgs := func() []string {
		return append([]string{"worker", "--brokers", brokers, "--id", "w1", "--state-dir", t.TempDir(), "--metrics-addr", workerOps,
			"--demo-interval", "100ms", "--standby-replicas", "0"}, common...)
	}
	w := start(t, workerArgs()...)
	a := start(t, append([]string{"api", "--brokers", brokers, "--http-addr", "127.0.0.1:0", "--admin-token", token,
		"--like-rate-limit", "1000"}, common...)...)
	api := "http://" + a.waitLog(t, "API listening", 30*time.Second)["http"].(string)

	// Traffic: likes, and each admin answer.
	for i := range 20 {
		if code := httpDo(t, "POST", api+"/dev/videos/metrics-video/likes", `{"count":2}`); code != 200 {
			t.Fatalf("like %d: %d", i, code)
		}
	}
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer " + token[:len(token)-1], 403}, {"Bearer " + token, 201}} {
		if code := httpDo(t, "POST", api+"/dev/videos", `{"title":"Metrics"}`, "Authorization", c.auth); code != c.want {
			t.Errorf("POST /dev/videos with %q: %d, want %d", c.auth, code, c.want)
		}
	}
	// Some metrics have series only once something happened: a restore
	// (a worker started again on an empty state dir replays the
	// changelog), a late like.
	waitReady(t, "http://"+workerOps, 30*time.Second)
	if err := w.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("worker stopped with %v", err)
	}
	w = start(t, workerArgs()...)
	waitReady(t, "http://"+workerOps, 30*time.Second)
	produceLate(t, brokers)
	bodies := []string{
		waitMetricsMatchDoc(t, doc, "broker", "http://"+brokerOps),
		waitMetricsMatchDoc(t, doc, "worker", "http://"+workerOps),
		waitMetricsMatchDoc(t, doc, "api", api),
	}
	for _, ops := range []string{"http://" + brokerOps, "http://" + workerOps, api} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code := httpDo(t, "GET", ops+path, ""); code != 200 {
				t.Errorf("GET %s%s: %d", ops, path, code)
			}
		}
	}
	for _, p := range []*proc{b, w, a} {
		p.mu.Lock()
		bodies = append(bodies, p.log.String())
		p.mu.Unlock()
	}
	for i, body := range bodies {
		if strings.Contains(body, token) || strings.Contains(body, token[4:20]) {
			t.Errorf("the admin token is in output %d (metrics of broker, worker, api; logs of broker, worker, api)", i)
		}
	}
	if !strings.Contains(bodies[4], `"level":"DEBUG"`) {
		t.Error("the worker logged nothing at debug level: the secret check proves little")
	}
}
