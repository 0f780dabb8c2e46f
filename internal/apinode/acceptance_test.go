package apinode

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/apinode/audit"
	"github.com/counter-dev/counter/internal/apinode/generator/plan"
	"github.com/counter-dev/counter/internal/apinode/live"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/testkit/livetest"
)

// Socket.IO clients of the npm socket.io-client package, one over
// WebSocket only and one over long-polling only, register two videos and
// the window sizes: they get the current counts at once, then the live
// counts of their videos only. Across the window closes of 2s windows,
// whose finals come a second (the grace) after the next window's first
// counts, the original events (live_aggregations_*) never go back to an
// older window, and the window events (live_windows_*) end with the finals
// of the output topics (checkClient).
func TestSocketIOClientsGetLiveCounts(t *testing.T) {
	p := startPipeline(t, time.Second, "2s", "6s")
	api := p.startAPI("api-1")
	p.warmUp(api)
	roomA, roomB, other := "video-a", "video-b", "video-other"

	// Likes before the clients connect, early in a 6s window: the clients
	// must get them at once.
	alignTo(6*time.Second, 500*time.Millisecond)
	want := map[testkit.Key]uint64{}
	ts := api.postLikes(t, roomA, 3)
	for range 3 {
		testkit.Expect(want, p.pol, roomA, ts)
	}
	six := window.Of(ts.UnixMilli(), 6000)
	waitCount(t, api, roomA, "6s", six.Start, 3)

	nc := startNodeClients(t, liveConfig{
		Clients: []liveClient{{api.url, []string{"websocket"}}, {api.url, []string{"polling"}}},
		Rooms:   []string{roomA, roomB},
		Windows: windowsOf(p.pol.Sizes),
	})
	// Live likes for the rooms and for another video, over a few windows.
	for i := range 12 {
		for _, l := range []struct {
			id string
			n  int
		}{{roomA, 1}, {roomB, 2}, {other, 1 + i%3}} {
			ts := api.postLikes(t, l.id, l.n)
			for range l.n {
				testkit.Expect(want, p.pol, l.id, ts)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.waitFinals(want)
	time.Sleep(300 * time.Millisecond) // the last pushes
	results := nc.finish()
	if len(results) != 2 || results[0].Transport != "websocket" || results[1].Transport != "polling" {
		t.Fatalf("clients: %+v", results)
	}
	var finals []map[testkit.Key]uint64
	for _, r := range results {
		// The snapshot of the 6s window held the likes sent before.
		for _, s := range r.Snapshots[live.LiveEvent(p.pol.Sizes[1])] {
			if s.ID == roomA && (s.Count != 3 || s.WindowStart.UnixMilli() != six.Start) {
				t.Errorf("%s: snapshot %+v, want 3 likes in the window at %v", r.Transport, s, time.UnixMilli(six.Start))
			}
		}
		for _, e := range r.Events {
			if e.ID == other {
				t.Fatalf("%s client got an event of a video it did not register: %+v", r.Transport, e)
			}
		}
		finals = append(finals, checkClient(t, r, p.pol, want, []string{roomA, roomB}))
	}
	if !maps.Equal(finals[0], finals[1]) {
		t.Errorf("the clients got different finals:\n%v\n%v", finals[0], finals[1])
	}
	if len(finals[0]) < 6 {
		t.Errorf("only %d finals pushed: %v", len(finals[0]), finals[0])
	}
}

// waitCount waits until the API's counts of id show count in the window of
// label starting at start.
func waitCount(t *testing.T, in *instance, id, label string, start int64, count uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var res countsAnswer
		in.do(t, "GET", "/dev/videos/"+id+"/counts", "", &res)
		w, ok := res.window(label)
		if ok && w.Current.Start.UnixMilli() == start && w.Current.Count == count {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts of %s: %+v, want %d in the %s window at %v", id, res, count, label, time.UnixMilli(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type windowAnswer struct {
	Start time.Time `json:"window_start"`
	End   time.Time `json:"window_end"`
	Count uint64    `json:"count"`
	Final bool      `json:"final"`
}

type countsAnswer struct {
	VideoID string `json:"video_id"`
	Title   string `json:"title"`
	Windows []struct {
		Window     string        `json:"window"`
		SizeMs     int64         `json:"size_ms"`
		Current    windowAnswer  `json:"current"`
		LastClosed *windowAnswer `json:"last_closed"`
	} `json:"windows"`
}

func (c countsAnswer) window(label string) (struct {
	Window     string        `json:"window"`
	SizeMs     int64         `json:"size_ms"`
	Current    windowAnswer  `json:"current"`
	LastClosed *windowAnswer `json:"last_closed"`
}, bool) {
	for _, w := range c.Windows {
		if w.Window == label {
			return w, true
		}
	}
	return c.Windows[0], false
}

type topAnswer struct {
	Window string    `json:"window"`
	Start  time.Time `json:"window_start"`
	End    time.Time `json:"window_end"`
	Videos []struct {
		VideoID string `json:"video_id"`
		Title   string `json:"title"`
		Count   uint64 `json:"count"`
	} `json:"videos"`
}

// The REST counts and top agree with the output topics.
func TestRESTCountsAndTopAgreeWithOutputs(t *testing.T) {
	p := startPipeline(t, time.Second, "2s", "6s")
	api := p.startAPI("api-1")
	p.warmUp(api)
	likes := map[string]int{"v-one": 5, "v-two": 3, "v-three": 8, catalog.DemoID1: 2, "v-four": 1}
	alignTo(6*time.Second, 500*time.Millisecond)
	want := map[testkit.Key]uint64{}
	var six window.Window
	for id, n := range likes {
		for range n {
			ts := api.postLikes(t, id, 1)
			testkit.Expect(want, p.pol, id, ts)
			six = window.Of(ts.UnixMilli(), 6000)
		}
	}
	// While the 6s window is current: the counts are those of the latest
	// updates in the output topic.
	for id := range likes {
		k := testkit.Key{Type: "6s", Video: id, Start: six.Start}
		waitUpdate(t, p.out, k, want[k])
		waitCount(t, api, id, "6s", six.Start, want[k])
	}
	var c countsAnswer
	if code := api.do(t, "GET", "/dev/videos/"+catalog.DemoID1+"/counts", "", &c); code != 200 || c.Title != catalog.Samples()[0].Title {
		t.Fatalf("counts of a catalog video: %d %+v", code, c)
	}
	var top topAnswer
	if code := api.do(t, "GET", "/dev/videos/top?window=6s&limit=3", "", &top); code != 200 {
		t.Fatalf("top: %d", code)
	}
	var gotTop []string
	for _, v := range top.Videos {
		gotTop = append(gotTop, fmt.Sprintf("%s=%d", v.VideoID, v.Count))
	}
	if top.Window != "6s" || top.Start.UnixMilli() != six.Start || strings.Join(gotTop, ",") != "v-three=8,v-one=5,v-two=3" {
		t.Fatalf("top: %+v", top)
	}
	if code := api.do(t, "GET", "/dev/videos/top?window=7s", "", nil); code != 400 {
		t.Fatalf("top of an unknown window: %d", code)
	}

	// Once closed: last_closed is the final of the output topic. The 2s
	// windows close first; they are checked before they leave the view.
	var last2 int64
	for k := range want {
		if k.Type == "2s" && !strings.HasPrefix(k.Video, "warm-up") {
			last2 = max(last2, k.Start)
		}
	}
	waitFor(t, "the finals of the 2s windows", func() bool {
		f := p.out.Finals()
		for k := range want {
			if k.Type == "2s" && k.Video != "warm-up" && len(f[k]) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // the view reads them
	for id := range likes {
		var c countsAnswer
		api.do(t, "GET", "/dev/videos/"+id+"/counts", "", &c)
		two, _ := c.window("2s")
		k2 := testkit.Key{Type: "2s", Video: id, Start: last2}
		if lc := two.LastClosed; lc == nil || lc.Start.UnixMilli() != last2 || lc.Count != want[k2] || !lc.Final {
			t.Errorf("%s: last closed 2s window %+v, want %d at %v", id, lc, want[k2], time.UnixMilli(last2))
		}
	}
	p.waitFinals(want)
	finals := p.out.Finals()
	for id := range likes {
		k := testkit.Key{Type: "6s", Video: id, Start: six.Start}
		var c countsAnswer
		api.do(t, "GET", "/dev/videos/"+id+"/counts", "", &c)
		w, _ := c.window("6s")
		lc := w.LastClosed
		if lc == nil || lc.Start.UnixMilli() != six.Start || lc.End.UnixMilli() != six.End() || lc.Count != finals[k][0] || !lc.Final {
			t.Errorf("%s: last closed 6s window %+v, want final %d of %v", id, lc, finals[k][0], time.UnixMilli(six.Start))
		}
	}

	// The audit recounts the same windows from the ingestion topic.
	var res audit.Result
	if code := api.do(t, "GET", "/dev/audit", "", &res); code != 200 || !res.OK() || res.Checked != len(want)+len(p.warm) {
		t.Errorf("GET /dev/audit: %d %+v, want no drift in %d windows", code, res, len(want)+len(p.warm))
	}
	if got := metric(t, api.reg, "counter_audit_windows_checked"); got != float64(res.Checked) {
		t.Errorf("counter_audit_windows_checked %v, want %d", got, res.Checked)
	}
	if got := metric(t, api.reg, "counter_audit_drift_windows"); got != 0 {
		t.Errorf("counter_audit_drift_windows %v", got)
	}
}

// waitUpdate waits until the latest update (or the final) of k in the
// output topics is count.
func waitUpdate(t *testing.T, out *testkit.Outputs, k testkit.Key, count uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, f := out.Updates()[k], out.Finals()[k]
		if (len(u) > 0 && u[len(u)-1] == count) || (len(f) > 0 && f[0] == count) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: updates %v, finals %v; want %d", k, u, f, count)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// generatorBody returns a generator request and the likes it schedules.
func generatorBody(videos map[string][]int) string {
	b, _ := json.Marshal(map[string]any{"videos": videos})
	return string(b)
}

// expectRun returns the finals a run produces: per step window of the
// smallest size, the step's likes; per larger window, the likes of the
// steps inside it.
func expectRun(pol window.Policy, start time.Time, stepMs int64, videos map[string][]int) map[testkit.Key]uint64 {
	want := map[testkit.Key]uint64{}
	for id, likes := range videos {
		for i, n := range likes {
			at := start.Add(time.Duration(int64(i)*stepMs) * time.Millisecond)
			for range n {
				testkit.Expect(want, pol, id, at)
			}
		}
	}
	return want
}

type runAnswer struct {
	Error string       `json:"error"`
	Run   *plan.Status `json:"run"`
}

func waitRunState(t *testing.T, in *instance, state string, timeout time.Duration) plan.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var res runAnswer
		in.do(t, "GET", "/dev/generator", "", &res)
		if res.Run != nil && res.Run.State == state {
			return *res.Run
		}
		if time.Now().After(deadline) {
			t.Fatalf("generator not %s after %v: %+v", state, timeout, res.Run)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A generator run with 1s steps: each step's likes are exactly the final
// of its 1s window, and the progress is pushed over Socket.IO.
func TestGeneratorFinalsMatchSchedule(t *testing.T) {
	p := startPipeline(t, time.Second, "1s", "5s")
	api := p.startAPI("api-1")
	p.warmUp(api)

	var mu sync.Mutex
	var progress []plan.Status
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := livetest.Dial(ctx, api.url, func(e livetest.Event) {
		if e.Name == live.EventGeneratorProgress {
			var st plan.Status
			_ = json.Unmarshal(e.Args[0], &st)
			mu.Lock()
			progress = append(progress, st)
			mu.Unlock()
		}
	})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	videos := map[string][]int{
		"gen-a": {3, 0, 7, 1, 12, 5, 5, 0, 2, 9},
		"gen-b": {1, 1, 1, 1, 1, 20, 1, 1, 1, 1},
	}
	var res runAnswer
	if code := api.do(t, "POST", "/dev/generator", generatorBody(videos), &res); code != 201 || res.Run == nil || (res.Run.State != plan.StateScheduled && res.Run.State != plan.StateRunning) {
		t.Fatalf("POST generator: %d %+v", code, res)
	}
	if code := api.do(t, "POST", "/dev/generator", generatorBody(videos), nil); code != 409 {
		t.Fatalf("second POST: %d, want 409", code)
	}
	if code := api.do(t, "POST", "/dev/generator", `{"videos":{"gen-a":[1,2]}}`, nil); code != 400 {
		t.Fatalf("bad POST: %d, want 400", code)
	}
	start, _ := time.Parse(time.RFC3339Nano, res.Run.Start)
	if start.UnixMilli()%1000 != 0 || res.Run.StepMs != 1000 {
		t.Fatalf("run not aligned to the 1s windows: %+v", res.Run)
	}
	done := waitRunState(t, api, plan.StateDone, 20*time.Second)
	if done.LikesSent != done.LikesTotal || done.LikesTotal != 73 || done.Runner != "api-1" {
		t.Fatalf("done: %+v", done)
	}
	want := expectRun(p.pol, start, 1000, videos)
	p.waitFinals(want)

	mu.Lock()
	defer mu.Unlock()
	if len(progress) < 10 || progress[len(progress)-1].State != plan.StateDone || (progress[0].State != plan.StateScheduled && progress[0].State != plan.StateRunning) {
		var states []string
		for _, s := range progress {
			states = append(states, s.State)
		}
		t.Fatalf("generator_progress events: %v", states)
	}
}

// Two API instances: a Socket.IO client on each gets the same counts; one
// instance only runs the generator, whose likes are sent once; when it
// goes away mid-run, the other finishes the run and the finals are still
// exact.
func TestTwoInstances(t *testing.T) {
	p := startPipeline(t, time.Second, "1s", "5s")
	a, b := p.startAPI("api-a"), p.startAPI("api-b")
	p.warmUp(a)
	videos := map[string][]int{
		"two-a": {2, 4, 6, 8, 10, 1, 3, 5, 7, 9},
		"two-b": {0, 0, 5, 0, 0, 5, 0, 0, 5, 0},
	}
	rooms := slices.Sorted(maps.Keys(videos))
	nc := startNodeClients(t, liveConfig{
		Clients: []liveClient{{a.url, []string{"websocket"}}, {b.url, []string{"polling"}}, {b.url, []string{"websocket"}}},
		Rooms:   rooms,
		Windows: windowsOf(p.pol.Sizes),
	})
	// A video added on one instance is listed by the other.
	var added catalog.Video
	if code := a.do(t, "POST", "/dev/videos", `{"title":"Added on A"}`, &added); code != 201 {
		t.Fatalf("POST video: %d", code)
	}
	waitFor(t, "the video on B", func() bool {
		var list []catalog.Video
		b.do(t, "GET", "/dev/videos/metadata", "", &list)
		return slices.Contains(list, added)
	})

	var res runAnswer
	if code := b.do(t, "POST", "/dev/generator", generatorBody(videos), &res); code != 201 {
		t.Fatalf("POST generator: %d %+v", code, res)
	}
	if code := a.do(t, "POST", "/dev/generator", generatorBody(videos), nil); code != 409 {
		t.Fatalf("POST on the other instance during the run: %d, want 409", code)
	}
	start, _ := time.Parse(time.RFC3339Nano, res.Run.Start)
	waitRunState(t, a, plan.StateDone, 20*time.Second)
	if leaders := metric(t, a.reg, "counter_generator_leader") + metric(t, b.reg, "counter_generator_leader"); leaders != 1 {
		t.Fatalf("%v generator runners", leaders)
	}
	want := expectRun(p.pol, start, 1000, videos)
	p.waitFinals(want)
	// Sent once: the ingestion topic holds each scheduled like once.
	sent := map[string]int{}
	for _, r := range testkit.ReadAll(t, p.brokers, topics.Ingestion) {
		sent[string(r.Value)]++
	}
	for id, likes := range videos {
		total := 0
		for _, n := range likes {
			total += n
		}
		if sent[id] != total {
			t.Errorf("%s: %d likes in the ingestion topic, want %d", id, sent[id], total)
		}
	}
	time.Sleep(300 * time.Millisecond)
	results := nc.finish()
	var finals []map[testkit.Key]uint64
	for _, r := range results {
		finals = append(finals, checkClient(t, r, p.pol, want, rooms))
	}
	for i := 1; i < len(finals); i++ {
		if !maps.Equal(finals[0], finals[i]) {
			t.Errorf("clients %d and 0 got different finals:\n%v\n%v", i, finals[i], finals[0])
		}
	}

	// Handover: the runner goes away mid-run; the other instance resumes.
	videos2 := map[string][]int{"hand-a": {5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, "hand-b": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}
	if code := a.do(t, "POST", "/dev/generator", generatorBody(videos2), &res); code != 201 {
		t.Fatalf("POST generator: %d %+v", code, res)
	}
	start2, _ := time.Parse(time.RFC3339Nano, res.Run.Start)
	running := waitRunState(t, a, plan.StateRunning, 10*time.Second)
	time.Sleep(time.Until(start2.Add(3500 * time.Millisecond)))
	runner, survivor := a, b
	if st := waitRunState(t, b, plan.StateRunning, time.Second); st.Runner == b.name {
		runner, survivor = b, a
	}
	t.Logf("run %s: closing its runner mid-run (progress %+v)", running.ID, running)
	runner.close()
	done := waitRunState(t, survivor, plan.StateDone, 20*time.Second)
	if done.LikesSkipped != 0 || done.LikesSent != done.LikesTotal || done.Runner != survivor.name {
		t.Fatalf("after the handover: %+v", done)
	}
	p.waitFinals(mergeKeys(want, expectRun(p.pol, start2, 1000, videos2)))
}

func mergeKeys(a, b map[testkit.Key]uint64) map[testkit.Key]uint64 {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
