package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/testkit/livetest"
)

func TestEventNames(t *testing.T) {
	for _, c := range []struct {
		ms            int64
		consume, live string
	}{
		{60_000, "consume_1_min_aggregations", "live_aggregations_1"},
		{300_000, "consume_5_min_aggregations", "live_aggregations_5"},
		{600_000, "consume_10_min_aggregations", "live_aggregations_10"},
		{2_000, "consume_2s_aggregations", "live_aggregations_2s"},
		{1_500, "consume_1500ms_aggregations", "live_aggregations_1500ms"},
	} {
		s := window.NewSize(c.ms)
		if ConsumeEvent(s) != c.consume || LiveEvent(s) != c.live {
			t.Errorf("%d ms: %s %s", c.ms, ConsumeEvent(s), LiveEvent(s))
		}
	}
}

func TestParseRooms(t *testing.T) {
	raw := func(s string) []json.RawMessage { return []json.RawMessage{json.RawMessage(s)} }
	for _, c := range []struct {
		args []json.RawMessage
		want string // ids joined, or "error: substring"
	}{
		{raw(`{"rooms":["a","b","a"]}`), "a,b"},
		{raw(`{"rooms":[],"extra":1}`), ""},
		{nil, "error: expected"},
		{raw(`[]`), "error: expected"},
		{raw(`{"room":["a"]}`), "error: expected"},
		{raw(`{"rooms":"a"}`), "error: expected"},
		{raw(`{"rooms":[1]}`), "error: rooms must be video ids"},
		{raw(`{"rooms":["a b"]}`), "error: room"},
		{raw(`{"rooms":["` + strings.Repeat("x", 129) + `"]}`), "error: room"},
		{raw(`{"rooms":["a","b","c","d"]}`), "error: too many rooms"},
	} {
		ids, err := parseRooms(c.args, 3)
		got := strings.Join(ids, ",")
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, c.want) || (c.want == "" && got != "") {
			t.Errorf("parseRooms(%s) = %q, want %q", c.args, got, c.want)
		}
	}
}

func TestAppendCount(t *testing.T) {
	got := string(appendCount(nil, "v1", view.Count{Start: 0, End: 60_000, Count: 7, Final: true}))
	want := `{"id":"v1","count":7,"window_start":"1970-01-01T00:00:00Z","window_end":"1970-01-01T00:01:00Z","final":true}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// fixture is a hub on an httptest server, with a view the test fills.
type fixture struct {
	t     *testing.T
	hub   *Hub
	view  *view.View
	url   string
	sizes []window.Size
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	return newFixtureOn(t, cfg, func(h http.Handler) (string, func()) {
		ts := httptest.NewServer(h)
		return ts.URL, ts.Close
	})
}

// newFixtureOn is newFixture with the hub served by serve, which returns
// the server's URL and how to close it.
func newFixtureOn(t *testing.T, cfg Config, serve func(http.Handler) (string, func())) *fixture {
	t.Helper()
	sizes := []window.Size{window.NewSize(60_000), window.NewSize(3_600_000)}
	v := view.New(sizes, 2)
	cfg.Logger = testkit.Logger()
	h := New(cfg, v)
	url, closeServer := serve(h.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		h.Close()
		closeServer()
	})
	return &fixture{t: t, hub: h, view: v, url: url, sizes: sizes}
}

// set applies a count for video in the current window of size index i and
// tells the hub.
func (f *fixture) set(i int, video string, count uint64, final bool) view.Change {
	s := f.sizes[i]
	start := window.Of(time.Now().UnixMilli(), s.Millis).Start
	a := record.Aggregation{Type: s.Label, VideoUID: video, Count: count, WindowStart: time.UnixMilli(start), WindowEnd: time.UnixMilli(start + s.Millis), Final: final}
	ch, res := f.view.Apply(a, time.Now())
	if res != view.Applied {
		f.t.Fatalf("apply %+v: %v", a, res)
	}
	f.hub.Changed([]view.Change{ch})
	return ch
}

// recorder is a client and the events it received.
type recorder struct {
	t  *testing.T
	c  *livetest.Client
	mu sync.Mutex
	ev []livetest.Event
}

func (f *fixture) dial() *recorder {
	f.t.Helper()
	r := &recorder{t: f.t}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := livetest.Dial(ctx, f.url, func(e livetest.Event) {
		r.mu.Lock()
		r.ev = append(r.ev, e)
		r.mu.Unlock()
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(c.Close)
	r.c = c
	return r
}

func (r *recorder) call(name string, args ...any) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := r.c.Call(ctx, name, args...)
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	b, _ := json.Marshal(res)
	return string(b)
}

// counts returns the received events named name as "id=count" strings,
// "!" appended to a final.
func (r *recorder) counts(name string) []string {
	var out []string
	for _, p := range r.payloads(name) {
		s := fmt.Sprintf("%s=%d", p.ID, p.Count)
		if p.Final {
			s += "!"
		}
		out = append(out, s)
	}
	return out
}

// payload is a live event's payload.
type payload struct {
	ID    string    `json:"id"`
	Count uint64    `json:"count"`
	Start time.Time `json:"window_start"`
	Final bool      `json:"final"`
}

// payloads returns the payloads of the received events named name.
func (r *recorder) payloads(name string) []payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []payload
	for _, e := range r.ev {
		if e.Name != name {
			continue
		}
		var p payload
		if err := json.Unmarshal(e.Args[0], &p); err != nil {
			r.t.Errorf("%s payload %s: %v", name, e.Args[0], err)
		}
		out = append(out, p)
	}
	return out
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.ev {
		out = append(out, e.Name)
	}
	return out
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegisterConsumeAndPush(t *testing.T) {
	f := newFixture(t, Config{FlushInterval: 20 * time.Millisecond})
	f.set(0, "a", 3, false)
	f.set(1, "a", 30, false)

	alice, bob := f.dial(), f.dial()
	if got := alice.call(EventRegister, map[string]any{"rooms": []string{"b", "a"}}); got != `[{"rooms":["a","b"]}]` {
		t.Fatalf("register ack %s", got)
	}
	bob.call(EventRegister, map[string]any{"rooms": []string{"c"}})
	// Registered but consuming nothing yet: no counts.
	f.set(0, "a", 4, false)
	time.Sleep(100 * time.Millisecond)
	if n := alice.names(); len(n) != 0 {
		t.Fatalf("events before consuming: %v", n)
	}

	// Consuming a size sends the current counts of the rooms at once.
	if got := alice.call("consume_1_min_aggregations", map[string]any{}); got != `[{"window":"1min"}]` {
		t.Fatalf("consume ack %s", got)
	}
	if got := alice.counts("live_aggregations_1"); fmt.Sprint(got) != "[b=0 a=4]" {
		t.Fatalf("snapshot %v", got)
	}
	bob.call("consume_1_min_aggregations")

	// Live: only the rooms of the client, only the sizes it consumes.
	f.set(0, "a", 5, false)
	f.set(1, "a", 31, false)
	f.set(0, "c", 1, false)
	f.set(0, "zzz", 9, false)
	waitFor(t, "a=5", func() bool { return len(alice.counts("live_aggregations_1")) == 3 })
	waitFor(t, "c=1 for bob", func() bool { return len(bob.counts("live_aggregations_1")) == 2 })
	time.Sleep(60 * time.Millisecond)
	if got := alice.counts("live_aggregations_1"); fmt.Sprint(got) != "[b=0 a=4 a=5]" {
		t.Fatalf("alice got %v", got)
	}
	if got := alice.counts("live_aggregations_60"); len(got) != 0 {
		t.Fatalf("alice got an unconsumed size: %v", got)
	}
	if got := bob.counts("live_aggregations_1"); fmt.Sprint(got) != "[c=0 c=1]" {
		t.Fatalf("bob got %v", got)
	}

	// Consuming the second size: its snapshot, then its changes.
	alice.call("consume_60_min_aggregations")
	if got := alice.counts("live_aggregations_60"); fmt.Sprint(got) != "[b=0 a=31]" {
		t.Fatalf("snapshot of the hour: %v", got)
	}
	f.set(1, "b", 2, true)
	waitFor(t, "b final", func() bool { return len(alice.counts("live_aggregations_60")) == 3 })
	if got := alice.counts("live_aggregations_60"); got[2] != "b=2!" {
		t.Fatalf("final: %v", got)
	}

	// Registering again re-sends the current counts; unregistering stops
	// the pushes.
	alice.call(EventRegister, map[string]any{"rooms": []string{"a"}})
	if got := alice.counts("live_aggregations_1"); got[len(got)-1] != "a=5" {
		t.Fatalf("re-register snapshot: %v", got)
	}
	if got := alice.call(EventUnregister, map[string]any{"rooms": []string{"a", "nope"}}); got != `[{"rooms":["b"]}]` {
		t.Fatalf("unregister ack %s", got)
	}
	before := len(alice.counts("live_aggregations_1"))
	f.set(0, "a", 6, false)
	f.set(0, "b", 1, false)
	waitFor(t, "b=1", func() bool { return len(alice.counts("live_aggregations_1")) == before+1 })
	time.Sleep(60 * time.Millisecond)
	if got := alice.counts("live_aggregations_1"); got[len(got)-1] != "b=1" || len(got) != before+1 {
		t.Fatalf("after unregister: %v", got)
	}
}

func TestCoalescing(t *testing.T) {
	f := newFixture(t, Config{FlushInterval: 100 * time.Millisecond})
	c := f.dial()
	c.call(EventRegister, map[string]any{"rooms": []string{"hot"}})
	c.call("consume_1_min_aggregations")
	start := time.Now()
	for i := uint64(1); i <= 500; i++ {
		f.set(0, "hot", i, false)
		time.Sleep(time.Millisecond)
	}
	waitFor(t, "the last count", func() bool {
		got := c.counts("live_aggregations_1")
		return got[len(got)-1] == "hot=500"
	})
	elapsed := time.Since(start)
	got := c.counts("live_aggregations_1")
	// One snapshot, then at most one push per flush interval (plus the
	// leading one).
	if maxN := 2 + int(elapsed/(100*time.Millisecond)) + 1; len(got) > maxN {
		t.Fatalf("%d events in %v, want at most %d: %v", len(got), elapsed, maxN, got)
	}
	for i := 1; i < len(got); i++ {
		var a, b int
		fmt.Sscanf(got[i-1], "hot=%d", &a)
		fmt.Sscanf(got[i], "hot=%d", &b)
		if b < a {
			t.Fatalf("count went back: %v", got)
		}
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, Config{MaxVideos: 5})
	c := f.dial()
	ctx := context.Background()
	errs := func() []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []string
		for _, e := range c.ev {
			if e.Name == EventError {
				out = append(out, string(e.Args[0]))
			}
		}
		return out
	}
	if got := c.call(EventRegister, "not an object"); !strings.Contains(got, "expected") {
		t.Fatalf("bad payload ack %s", got)
	}
	if got := c.call(EventRegister, map[string]any{"rooms": []string{"1", "2", "3", "4", "5", "6"}}); !strings.Contains(got, "too many rooms") {
		t.Fatalf("too many rooms ack %s", got)
	}
	c.call(EventRegister, map[string]any{"rooms": []string{"1", "2", "3"}})
	if got := c.call(EventRegister, map[string]any{"rooms": []string{"4", "5", "6"}}); !strings.Contains(got, "too many rooms: 6") {
		t.Fatalf("too many rooms in all: %s", got)
	}
	if got := c.call(EventRegister, map[string]any{"rooms": []string{"ok", "bad id!"}}); !strings.Contains(got, "room") {
		t.Fatalf("bad id: %s", got)
	}
	// Without an acknowledgement, the error event still tells.
	if err := c.c.Emit(ctx, EventUnregister, 42); err != nil {
		t.Fatal(err)
	}
	if err := c.c.Emit(ctx, "no_such_event", 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 error events", func() bool { return len(errs()) == 5 })
	if e := errs()[4]; !strings.Contains(e, `"event":"unregister_room"`) {
		t.Fatalf("error event %s", e)
	}
	// The connection still works.
	if got := c.call(EventRegister, map[string]any{"rooms": []string{"4"}}); got != `[{"rooms":["1","2","3","4"]}]` {
		t.Fatalf("after errors: %s", got)
	}
	// A malformed packet closes this client, not the server.
	if err := c.c.EmitRaw(ctx, `["register_room",`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("malformed packet: client not closed")
	}
	d := f.dial()
	if got := d.call(EventRegister, map[string]any{"rooms": []string{"x"}}); got != `[{"rooms":["x"]}]` {
		t.Fatalf("new client: %s", got)
	}
}

func TestGeneratorProgress(t *testing.T) {
	f := newFixture(t, Config{})
	a := f.dial()
	f.hub.PublishGenerator(json.RawMessage(`{"state":"running"}`))
	waitFor(t, "progress", func() bool { return len(a.names()) == 1 })
	b := f.dial()
	waitFor(t, "progress for a late client", func() bool { return len(b.names()) == 1 })
	if n := b.names(); n[0] != EventGeneratorProgress {
		t.Fatalf("got %v", n)
	}
}
