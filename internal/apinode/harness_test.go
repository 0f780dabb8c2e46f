package apinode

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/live"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/worker"
)

// pipeline is the real system under test: the embedded broker, two
// workers, and a reader of the output topics.
type pipeline struct {
	t       *testing.T
	brokers []string
	pol     window.Policy
	out     *testkit.Outputs
	warm    map[testkit.Key]uint64 // the finals of the warm-up like
}

func startPipeline(t *testing.T, grace time.Duration, sizes ...string) *pipeline {
	t.Helper()
	brokers := testkit.StartBroker(t)
	pol := testkit.Policy(t, grace, sizes...)
	testkit.EnsureTopics(t, brokers, pol, 3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 2 {
		cfg := worker.DefaultConfig()
		cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, fmt.Sprint("w", i), filepath.Join(t.TempDir(), fmt.Sprint("w", i)), pol
		cfg.StandbyReplicas, cfg.SessionTimeout, cfg.Logger = 0, 2*time.Second, testkit.Logger().With("worker", i)
		cfg.Registerer = prometheus.NewRegistry()
		w, err := worker.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &pipeline{t: t, brokers: brokers, pol: pol, out: testkit.ReadOutputs(t, brokers, pol)}
}

// instance is one API instance on an HTTP test server.
type instance struct {
	name  string
	node  *Node
	url   string
	reg   *prometheus.Registry
	close func()
}

func (p *pipeline) startAPI(name string) *instance { return p.startAPIAt(name, "") }

// startAPIAt starts an instance serving at addr (host:port), or at a port
// of its own if addr is empty.
func (p *pipeline) startAPIAt(name, addr string) *instance {
	t := p.t
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{Brokers: p.brokers, Sizes: p.pol.Sizes, Grace: time.Duration(p.pol.Grace) * time.Millisecond, Instance: name, Registry: reg,
		GeneratorSessionTimeout: time.Second, PingInterval: time.Second, PingTimeout: 5 * time.Second,
		AuditSettle: -1, // the tests audit once the finals they expect are there
		// The view refuses records of windows older than ViewKeep windows
		// before the clock's. The default, 2, leaves a final of a 1 s
		// window with a 1 s grace one second to reach the view: a loaded
		// machine takes longer, and the clients would never get it.
		ViewKeep: 10,
		Logger:   testkit.Logger().With("api", name)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(n.Handler())
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		ts.Listener.Close()
		ts.Listener = l
	}
	ts.Start()
	var once sync.Once
	in := &instance{name: name, node: n, url: ts.URL, reg: reg, close: func() {
		once.Do(func() {
			n.DisconnectClients() // ends pending polls, which ts.Close waits for
			ts.Close()
			n.Close()
		})
	}}
	t.Cleanup(in.close)
	select {
	case <-n.Ready():
	case <-ctx.Done():
		t.Fatal("live view not ready")
	}
	return in
}

// warmUp waits until the workers count: a like reaches the output topics.
func (p *pipeline) warmUp(in *instance) {
	p.t.Helper()
	ts := in.postLikes(p.t, "warm-up", 1)
	want := map[testkit.Key]uint64{}
	testkit.Expect(want, p.pol, "warm-up", ts)
	p.warm = want
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A running count, or only the final when the workers (slow to
		// join on a busy machine) counted it after the window had ended
		// by the wall clock: then no running count is written.
		updates, finals := p.out.Updates(), p.out.Finals()
		ok := true
		for k := range want {
			ok = ok && (len(updates[k]) > 0 || len(finals[k]) > 0)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatal("the workers did not count a like in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFinals waits until the output topics hold exactly the finals of want
// and of the warm-up like.
func (p *pipeline) waitFinals(want map[testkit.Key]uint64) {
	p.t.Helper()
	all := maps.Clone(want)
	maps.Copy(all, p.warm)
	p.out.WaitFinals(p.t, all, 30*time.Second)
}

// postLikes sends n likes for id through the API and returns their event
// time.
func (in *instance) postLikes(t *testing.T, id string, n int) time.Time {
	t.Helper()
	resp, err := http.Post(in.url+"/dev/videos/"+id+"/likes", "application/json", strings.NewReader(fmt.Sprintf(`{"count":%d}`, n)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ts, err := time.Parse(time.RFC3339Nano, resp.Header.Get(api.EventTimeHeader))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("POST likes: %d, event time %q: %v", resp.StatusCode, resp.Header.Get(api.EventTimeHeader), err)
	}
	return ts
}

// do sends a request with a JSON body ("" for none), decodes the JSON
// answer into out (if not nil) and returns the status code.
func (in *instance) do(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, in.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// metric sums the values of a metric family in a registry.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				v += m.Counter.GetValue()
			case m.Gauge != nil:
				v += m.Gauge.GetValue()
			}
		}
	}
	return v
}

// alignTo waits until the clock is early in a window of size: at most
// within into its start.
func alignTo(size, within time.Duration) {
	for time.Since(time.Now().Truncate(size)) > within {
		time.Sleep(time.Until(time.Now().Truncate(size).Add(size)))
	}
}

// liveConfig is LIVE_CONFIG of test/socketio/live-client.mjs.
type liveConfig struct {
	Clients   []liveClient `json:"clients"`
	Rooms     []string     `json:"rooms"`
	Windows   []liveWindow `json:"windows"`
	Reconnect bool         `json:"reconnect"`
}

type liveClient struct {
	URL        string   `json:"url"`
	Transports []string `json:"transports"`
}

type liveWindow struct {
	Consume        string `json:"consume"`
	Live           string `json:"live"`
	ConsumeWindows string `json:"consume_windows"`
	Windows        string `json:"windows"`
}

func windowsOf(sizes []window.Size) []liveWindow {
	var out []liveWindow
	for _, s := range sizes {
		out = append(out, liveWindow{live.ConsumeEvent(s), live.LiveEvent(s), live.ConsumeWindowsEvent(s), live.WindowsEvent(s)})
	}
	return out
}

// livePayload is one live_aggregations_* or live_windows_* event.
type livePayload struct {
	Event string `json:"event"`
	Conn  int    `json:"conn"` // the connection's number: 1 after the first reconnection

	ID          string    `json:"id"`
	Count       uint64    `json:"count"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Final       bool      `json:"final"`
}

// clientResult is what one socket of the script received.
type clientResult struct {
	Transport string                   `json:"transport"`
	URL       string                   `json:"url"`
	Snapshots map[string][]livePayload `json:"snapshots"`
	Events    []livePayload            `json:"events"`
}

// nodeClients is the running script.
type nodeClients struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *strings.Builder
}

// startNodeClients runs the script with cfg and waits until its sockets
// are registered (READY). It skips the test when node is not installed.
func startNodeClients(t *testing.T, cfg liveConfig) *nodeClients {
	t.Helper()
	nc := connectNodeClients(t, cfg)
	nc.subscribe()
	return nc
}

// connectNodeClients runs the script with cfg and waits until its sockets
// are connected, not yet registered (CONNECTED): installing the npm
// packages and starting node, which may take seconds on a busy machine,
// are over. It skips the test when node is not installed.
func connectNodeClients(t *testing.T, cfg liveConfig) *nodeClients {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the socket.io-client tests in test/socketio need it")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "socketio"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); errors.Is(err, fs.ErrNotExist) {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	b, _ := json.Marshal(cfg)
	cmd := exec.Command(node, "live-client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LIVE_CONFIG="+string(b), "NO_COLOR=1")
	nc := &nodeClients{t: t, cmd: cmd, lines: make(chan string, 16), stderr: &strings.Builder{}}
	cmd.Stderr = nc.stderr
	if nc.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	go func() {
		defer close(nc.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			nc.lines <- sc.Text()
		}
	}()
	nc.expect("CONNECTED", 60*time.Second)
	return nc
}

// subscribe has the sockets register their rooms and sizes, and waits
// until they did and checked their snapshots (READY).
func (nc *nodeClients) subscribe() {
	nc.t.Helper()
	if _, err := io.WriteString(nc.stdin, "SUBSCRIBE\n"); err != nil {
		nc.t.Fatal(err)
	}
	nc.expect("READY", 30*time.Second)
}

// expect waits for a line starting with prefix and returns the rest.
func (nc *nodeClients) expect(prefix string, timeout time.Duration) string {
	nc.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-nc.lines:
			if !ok {
				_ = nc.cmd.Wait()
				nc.t.Fatalf("live-client.mjs ended before %s: %v\n%s", prefix, nc.cmd.ProcessState, nc.stderr)
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return strings.TrimSpace(rest)
			}
			nc.t.Logf("live-client.mjs: %s", line)
		case <-timer.C:
			nc.t.Fatalf("live-client.mjs: no %s in %v\n%s", prefix, timeout, nc.stderr)
		}
	}
}

// finish waits until every socket received the final of the last window
// of want of each video of rooms and size (the last record of the (video,
// size) in the output topics, so the finals of its earlier windows were
// pushed before), then tells the script to stop and returns what its
// sockets received.
func (nc *nodeClients) finish(sizes []window.Size, want map[testkit.Key]uint64, rooms []string) []clientResult {
	nc.t.Helper()
	event := map[string]string{} // size label → window event
	for _, s := range sizes {
		event[s.Label] = live.WindowsEvent(s)
	}
	type final struct {
		Event string `json:"event"`
		ID    string `json:"id"`
		Start int64  `json:"start"`
	}
	last := map[[2]string]int64{} // size label, video → start of its last window in want
	for k := range want {
		if i := [2]string{k.Type, k.Video}; contains(rooms, k.Video) && (last[i] == 0 || k.Start > last[i]) {
			last[i] = k.Start
		}
	}
	var finals []final
	for i, start := range last {
		finals = append(finals, final{event[i[0]], i[1], start})
	}
	b, _ := json.Marshal(finals)
	if _, err := fmt.Fprintf(nc.stdin, "AWAIT %s\n", b); err != nil {
		nc.t.Fatal(err)
	}
	nc.expect("RECEIVED", 30*time.Second)
	if _, err := io.WriteString(nc.stdin, "DONE\n"); err != nil {
		nc.t.Fatal(err)
	}
	var res []clientResult
	if err := json.Unmarshal([]byte(nc.expect("RESULT", 30*time.Second)), &res); err != nil {
		nc.t.Fatal(err)
	}
	if err := nc.cmd.Wait(); err != nil {
		nc.t.Fatalf("live-client.mjs: %v\n%s", err, nc.stderr)
	}
	return res
}

// checkClient checks what a socket received (its snapshots, then its
// events) against the finals of the output topics (want, for the videos of
// rooms), and returns the finals of the windows of want it got (not those
// of other windows, count 0 finals in a snapshot's last closed window,
// which depends on when the client registered):
//   - original events (live_aggregations_*), per video and size: the window
//     never goes back; within a window the count never goes back, and a
//     final is followed by nothing but itself;
//   - window events (live_windows_*), per video and window: the same for
//     counts and finals; for every window that was current when it
//     connected or came later, the last one is the final, with the count
//     of the output topics; no other final.
func checkClient(t *testing.T, r clientResult, pol window.Policy, want map[testkit.Key]uint64, rooms []string) map[testkit.Key]uint64 {
	t.Helper()
	label := map[string]string{}
	isWindows := map[string]bool{}
	for _, s := range pol.Sizes {
		label[live.LiveEvent(s)] = s.Label
		label[live.WindowsEvent(s)] = s.Label
		isWindows[live.WindowsEvent(s)] = true
	}
	from := map[string]int64{} // label → start of the snapshot window
	var all []livePayload
	for _, s := range pol.Sizes {
		for _, ev := range []string{live.LiveEvent(s), live.WindowsEvent(s)} {
			for _, p := range r.Snapshots[ev] {
				if !isWindows[ev] {
					from[s.Label] = p.WindowStart.UnixMilli()
				}
				p.Event = ev
				all = append(all, p)
			}
		}
	}
	all = append(all, r.Events...)
	newest := map[string]livePayload{}    // original event and video → the last one
	last := map[testkit.Key]livePayload{} // the last window event of each window
	for _, p := range all {
		k := testkit.Key{Type: label[p.Event], Video: p.ID, Start: p.WindowStart.UnixMilli()}
		prev, seen := last[k]
		if !isWindows[p.Event] {
			prev, seen = newest[p.Event+" "+p.ID]
			newest[p.Event+" "+p.ID] = p
			if seen && p.WindowStart.Before(prev.WindowStart) {
				t.Errorf("%s client on %s: %s of %s went back from the window at %v (count %d, final %v) to the one at %v (count %d, final %v)",
					r.Transport, r.URL, p.Event, p.ID, prev.WindowStart, prev.Count, prev.Final, p.WindowStart, p.Count, p.Final)
				continue
			}
			seen = seen && prev.WindowStart.Equal(p.WindowStart)
		} else {
			last[k] = p
		}
		if seen && (p.Count < prev.Count || (prev.Final && (!p.Final || p.Count != prev.Count))) {
			t.Errorf("%s client on %s: %s %v went from %d (final %v) to %d (final %v)", r.Transport, r.URL, p.Event, k, prev.Count, prev.Final, p.Count, p.Final)
		}
	}
	got := map[testkit.Key]uint64{}
	for k, p := range last {
		if p.Final {
			got[k] = p.Count
		}
	}
	inWant := map[testkit.Key]uint64{}
	for k, w := range want {
		if k.Start < from[k.Type] || !contains(rooms, k.Video) {
			continue
		}
		if p, ok := last[k]; !ok || !p.Final || p.Count != w {
			t.Errorf("%s client on %s: %v: last window event %+v, want final %d", r.Transport, r.URL, k, p, w)
		}
	}
	for k, c := range got {
		if want[k] != c {
			t.Errorf("%s client: final %v=%d not in the output topics (want %d)", r.Transport, k, c, want[k])
		}
		if _, ok := want[k]; ok {
			inWant[k] = c
		}
	}
	return inWant
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
