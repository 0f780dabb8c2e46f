package window

import (
	"testing"
	"time"
)

func mustPolicy(t *testing.T, sizes []string, grace, retention time.Duration) Policy {
	t.Helper()
	s, err := ParseSizes(sizes)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(s, grace, retention)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseSizesLabels(t *testing.T) {
	sizes, err := ParseSizes([]string{"10m", "1m", "5m", "2s", "1500ms", "90s", "1h"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ms           int64
		label, topic string
	}{
		{1500, "1500ms", "1500ms"}, {2000, "2s", "2s"}, {60000, "1min", "1"}, {90000, "90s", "90s"},
		{300000, "5min", "5"}, {600000, "10min", "10"}, {3600000, "60min", "60"},
	}
	if len(sizes) != len(want) {
		t.Fatalf("got %d sizes", len(sizes))
	}
	for i, w := range want {
		if sizes[i].Millis != w.ms || sizes[i].Label != w.label || sizes[i].TopicSuffix != w.topic {
			t.Errorf("size %d = %+v, want %+v", i, sizes[i], w)
		}
	}
}

func TestParseSizesErrors(t *testing.T) {
	for _, bad := range [][]string{nil, {"0s"}, {"-1m"}, {"soon"}, {"1m", "60s"}, {"1.5ms"}} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) accepted", bad)
		}
	}
}

func TestOfAlignmentAndBoundary(t *testing.T) {
	cases := []struct{ ts, size, start int64 }{
		{0, 2000, 0},
		{1999, 2000, 0},
		{2000, 2000, 2000}, // an event at exactly end belongs to the next window
		{2001, 2000, 2000},
		{-1, 2000, -2000}, // floor, not truncation, before the epoch
		{-2000, 2000, -2000},
		{-2001, 2000, -4000},
		{1764115200123, 60000, 1764115200000},
	}
	for _, c := range cases {
		w := Of(c.ts, c.size)
		if w.Start != c.start || w.End() != c.start+c.size {
			t.Errorf("Of(%d,%d) = %+v, want start %d", c.ts, c.size, w, c.start)
		}
		if !(w.Start <= c.ts && c.ts < w.End()) {
			t.Errorf("Of(%d,%d) = %+v does not contain ts", c.ts, c.size, w)
		}
	}
}

func TestAssignSeveralSizes(t *testing.T) {
	p := mustPolicy(t, []string{"1m", "5m", "10m"}, 5*time.Second, 0)
	ts := time.Date(2026, 11, 26, 10, 7, 30, 0, time.UTC).UnixMilli()
	got := p.Assign(ts)
	want := []time.Time{
		time.Date(2026, 11, 26, 10, 7, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 10, 5, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
	}
	for i, w := range got {
		if w.Start != want[i].UnixMilli() {
			t.Errorf("window %d starts %v, want %v", i, time.UnixMilli(w.Start).UTC(), want[i])
		}
	}
}

func TestGraceAndLateness(t *testing.T) {
	p := mustPolicy(t, []string{"2s"}, 500*time.Millisecond, 0)
	w := Of(1000, 2000) // [0, 2000)
	for _, c := range []struct {
		wm     int64
		closed bool
	}{{1999, false}, {2000, false}, {2499, false}, {2500, true}, {9999, true}} {
		if got := p.Closed(w, c.wm); got != c.closed {
			t.Errorf("Closed at wm %d = %v, want %v", c.wm, got, c.closed)
		}
	}
	zero := mustPolicy(t, []string{"2s"}, 0, 0)
	if zero.Closed(w, 1999) || !zero.Closed(w, 2000) {
		t.Error("zero grace: window must close exactly at its end")
	}
}

func TestRetention(t *testing.T) {
	p := mustPolicy(t, []string{"2s", "4s"}, time.Second, 0)
	if p.Retention != 8000 {
		t.Fatalf("default retention = %d, want 2x largest window = 8000", p.Retention)
	}
	w := Window{Size: 2000, Start: 0} // closes at 3000, expires at 11000
	if p.Expired(w, 10999) || !p.Expired(w, 11000) {
		t.Error("expiry boundary wrong")
	}
	q := mustPolicy(t, []string{"2s"}, time.Second, 3*time.Second)
	if q.Retention != 3000 || !q.Expired(w, 6000) || q.Expired(w, 5999) {
		t.Error("explicit retention not honoured")
	}
	if _, err := NewPolicy(p.Sizes, -time.Second, 0); err == nil {
		t.Error("negative grace accepted")
	}
}

func TestEpochChangesExactlyWhenSomethingCanClose(t *testing.T) {
	p := mustPolicy(t, []string{"4s", "6s"}, 500*time.Millisecond, 0)
	if p.Step() != 2000 {
		t.Fatalf("step = %d", p.Step())
	}
	// For every pair of consecutive watermarks, the epoch changes iff some
	// window of some size closes in between.
	for wm := int64(-5000); wm < 30000; wm += 50 {
		next := wm + 50
		closes := false
		for _, s := range p.Sizes {
			for start := int64(-20000); start < 40000; start += s.Millis {
				w := Window{Size: s.Millis, Start: start}
				if !p.Closed(w, wm) && p.Closed(w, next) {
					closes = true
				}
			}
		}
		if closes && p.Epoch(wm) == p.Epoch(next) {
			t.Fatalf("a window closes between %d and %d but the epoch stays %d", wm, next, p.Epoch(wm))
		}
	}
}

func TestSizeOf(t *testing.T) {
	p := mustPolicy(t, []string{"1m", "2s"}, 0, 0)
	if s, ok := p.SizeOf(60000); !ok || s.Label != "1min" {
		t.Errorf("SizeOf(60000) = %+v %v", s, ok)
	}
	if _, ok := p.SizeOf(5000); ok {
		t.Error("SizeOf(5000) found")
	}
}
