package live

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// steady waits, if needed, until the clock is early enough in a window of
// the fixture's smallest size (one minute) that the test ends before the
// next one: the snapshots send the window containing the clock.
func (f *fixture) steady() int64 {
	ms := f.sizes[0].Millis
	for {
		now := time.Now().UnixMilli()
		w := window.Of(now, ms)
		if w.End()-now > 3_000 {
			return w.Start
		}
		time.Sleep(time.Duration(w.End()-now+10) * time.Millisecond)
	}
}

// apply applies a count of video in the window of size index i starting at
// start, tells the hub, and returns the change.
func (f *fixture) apply(i int, video string, start int64, count uint64, final bool) {
	f.t.Helper()
	s := f.sizes[i]
	a := record.Aggregation{Type: s.Label, VideoUID: video, Count: count, WindowStart: time.UnixMilli(start), WindowEnd: time.UnixMilli(start + s.Millis), Final: final}
	ch, res := f.view.Apply(a, time.Now())
	if res != view.Applied {
		f.t.Fatalf("apply %+v: %v", a, res)
	}
	f.hub.Changed([]view.Change{ch})
}

// seq returns the events named name as "id@w=count", w the window's
// distance from base in windows of ms, "!" appended to a final.
func (r *recorder) seq(name string, base, ms int64) []string {
	var out []string
	for _, p := range r.payloads(name) {
		s := fmt.Sprintf("%s@%d=%d", p.ID, (p.Start.UnixMilli()-base)/ms, p.Count)
		if p.Final {
			s += "!"
		}
		out = append(out, s)
	}
	return out
}

// waitSeq waits until r received want events named name, and checks them.
func (r *recorder) waitSeq(name string, base, ms int64, want string) {
	r.t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		got = r.seq(name, base, ms)
		if fmt.Sprint(got) == want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: got %v, want %s", name, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The original events of a (video, size) never go back to an older window:
// the final of window k that arrives after a count of window k+1 was sent
// is not sent as live_aggregations_*, whether it comes in a later flush or
// in the same one; other videos and sizes are not held back by it.
func TestOriginalEventsNeverGoBack(t *testing.T) {
	f := newFixture(t, Config{FlushInterval: 10 * time.Millisecond})
	k := f.steady()
	ms, hour := f.sizes[0].Millis, f.sizes[1].Millis
	hk := window.Of(k, hour).Start
	c := f.dial()
	c.call(EventRegister, map[string]any{"rooms": []string{"v", "w"}})
	c.call("consume_1_min_aggregations")
	c.call("consume_60_min_aggregations")
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 w@0=0]")

	f.apply(0, "v", k, 1, false)
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 w@0=0 v@0=1]")
	f.apply(0, "v", k+ms, 2, false) // the next window's first count
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 w@0=0 v@0=1 v@1=2]")
	f.apply(0, "v", k, 15, true) // the final of window k, late
	f.apply(0, "w", k, 4, true)  // w is still at window k: its final goes
	f.apply(0, "v", k+ms, 3, false)
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 w@0=0 v@0=1 v@1=2 w@0=4! v@1=3]")

	// Late final and next count in one flush: the final is not sent.
	f.apply(0, "w", k+ms, 1, false)
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 w@0=0 v@0=1 v@1=2 w@0=4! v@1=3 w@1=1]")
	// Duplicate changes, the late one first, in one call: one flush.
	if _, res := f.view.Apply(record.Aggregation{Type: "1min", VideoUID: "v", Count: 4,
		WindowStart: time.UnixMilli(k + ms), WindowEnd: time.UnixMilli(k + 2*ms)}, time.Now()); res != view.Applied {
		t.Fatalf("apply: %v", res)
	}
	f.hub.Changed([]view.Change{{Size: 0, Video: "v", Start: k}, {Size: 0, Video: "v", Start: k + ms}, {Size: 0, Video: "v", Start: k}})
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 w@0=0 v@0=1 v@1=2 w@0=4! v@1=3 w@1=1 v@1=4]")

	// The hour is not held back by the minute.
	f.apply(1, "v", hk, 7, false)
	c.waitSeq("live_aggregations_60", hk, hour, "[v@0=0 w@0=0 v@0=7]")

	// A client registering now gets the clock's window (k) at first; once
	// it has seen a newer one, registering again does not go back to k.
	late := f.dial()
	late.call(EventRegister, map[string]any{"rooms": []string{"v"}})
	late.call("consume_1_min_aggregations")
	late.waitSeq("live_aggregations_1", k, ms, "[v@0=15!]")
	f.apply(0, "v", k+2*ms, 1, false)
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 w@0=0 v@0=1 v@1=2 w@0=4! v@1=3 w@1=1 v@1=4 v@2=1]")
	late.waitSeq("live_aggregations_1", k, ms, "[v@0=15! v@2=1]")
	late.call(EventRegister, map[string]any{"rooms": []string{"v"}})
	late.waitSeq("live_aggregations_1", k, ms, "[v@0=15! v@2=1 v@2=1]")

	// Held back: v's final of k, twice (the duplicate change).
	var m dto.Metric
	if err := f.hub.m.heldBack.Write(&m); err != nil || m.GetCounter().GetValue() != 2 {
		t.Fatalf("counter_live_held_back_total %v, want 2 (%v)", m.GetCounter().GetValue(), err)
	}
}

// The window events carry every window, the late final of window k after
// the counts of window k+1 included, and their snapshot holds the last
// closed window and the current one; the original events of the same
// client still never go back.
func TestWindowEventsCarryLateFinals(t *testing.T) {
	f := newFixture(t, Config{FlushInterval: 10 * time.Millisecond})
	k := f.steady()
	ms := f.sizes[0].Millis
	c := f.dial()
	c.call(EventRegister, map[string]any{"rooms": []string{"v"}})
	if got := c.call("consume_windows_1min"); got != `[{"window":"1min"}]` {
		t.Fatalf("consume ack %s", got)
	}
	c.call("consume_1_min_aggregations")
	c.waitSeq("live_windows_1min", k, ms, "[v@0=0]")
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0]")

	f.apply(0, "v", k-ms, 5, false) // the previous window, still open
	c.waitSeq("live_windows_1min", k, ms, "[v@0=0 v@-1=5]")
	f.apply(0, "v", k, 1, false)
	c.waitSeq("live_windows_1min", k, ms, "[v@0=0 v@-1=5 v@0=1]")
	f.apply(0, "v", k-ms, 9, true)
	c.waitSeq("live_windows_1min", k, ms, "[v@0=0 v@-1=5 v@0=1 v@-1=9!]")
	f.apply(0, "v", k, 2, false)
	c.waitSeq("live_windows_1min", k, ms, "[v@0=0 v@-1=5 v@0=1 v@-1=9! v@0=2]")
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=0 v@0=1 v@0=2]")

	d := f.dial()
	d.call(EventRegister, map[string]any{"rooms": []string{"v"}})
	d.call("consume_windows_1min")
	d.waitSeq("live_windows_1min", k, ms, "[v@-1=9! v@0=2]")
	if n := d.names(); len(n) != 2 {
		t.Fatalf("window events only: %v", n)
	}
}

// Until the view is complete (Config.Ready), a client that registers gets
// no counts, not even its snapshot, and no changes are pushed: a client
// reconnecting to a restarting instance would otherwise see the partial
// counts of a view still loading. Once ready, it gets its snapshots.
func TestNothingSentBeforeTheViewIsReady(t *testing.T) {
	ready := make(chan struct{})
	f := newFixture(t, Config{FlushInterval: 10 * time.Millisecond, Ready: ready})
	k := f.steady()
	ms := f.sizes[0].Millis
	f.apply(0, "v", k, 3, false)
	c := f.dial()
	c.call(EventRegister, map[string]any{"rooms": []string{"v"}})
	c.call("consume_1_min_aggregations")
	c.call("consume_windows_1min")
	f.apply(0, "v", k, 4, false)
	// A snapshot would have come before the acknowledgement.
	if n := c.names(); len(n) != 0 {
		t.Fatalf("events before the view is ready: %v", n)
	}
	close(ready)
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=4]")
	c.waitSeq("live_windows_1min", k, ms, "[v@0=4]")
	f.apply(0, "v", k, 5, false)
	c.waitSeq("live_aggregations_1", k, ms, "[v@0=4 v@0=5]")
	c.waitSeq("live_windows_1min", k, ms, "[v@0=4 v@0=5]")
}
