package view

import (
	"fmt"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

var sizes = []window.Size{window.NewSize(60_000), window.NewSize(300_000)}

// at is 10:07:30 on a day, inside the 1min window [10:07, 10:08).
var at = time.Date(2026, 11, 26, 10, 7, 30, 0, time.UTC)

func agg(label, id string, start time.Time, size time.Duration, count uint64, final bool) record.Aggregation {
	return record.Aggregation{Type: label, VideoUID: id, Count: count, WindowStart: start, WindowEnd: start.Add(size), Final: final}
}

func min1(id string, start time.Time, count uint64, final bool) record.Aggregation {
	return agg("1min", id, start, time.Minute, count, final)
}

func TestApplyKeepsLatestAndFinal(t *testing.T) {
	v := New(sizes, 2)
	cur := at.Truncate(time.Minute)
	steps := []struct {
		a    record.Aggregation
		want Result
	}{
		{min1("a", cur, 1, false), Applied},
		{min1("a", cur, 1, false), Unchanged},
		{min1("a", cur, 3, false), Applied},
		{min1("a", cur, 4, true), Applied},
		{min1("a", cur, 5, false), Unchanged}, // nothing replaces a final
		{min1("a", cur, 6, true), Unchanged},
		{min1("b", cur.Add(-2*time.Minute), 2, true), Applied}, // kept: 2 windows back
		{min1("b", cur.Add(-3*time.Minute), 2, true), Stale},   // beyond the horizon
		{min1("b", cur.Add(2*time.Minute), 1, false), Applied}, // a bit ahead: kept
		{min1("b", cur.Add(time.Hour), 1, false), Stale},       // far ahead
		{agg("2min", "b", cur, 2*time.Minute, 1, false), UnknownSize},
		{agg("1min", "b", cur, 2*time.Minute, 1, false), UnknownSize}, // size mismatch
		{min1("b", cur.Add(time.Second), 1, false), UnknownSize},      // not aligned
		{agg("5min", "a", at.Truncate(5*time.Minute), 5*time.Minute, 7, false), Applied},
	}
	for i, s := range steps {
		ch, got := v.Apply(s.a, at)
		if got != s.want {
			t.Fatalf("step %d %+v: %v, want %v", i, s.a, got, s.want)
		}
		if got == Applied && (ch.Video != s.a.VideoUID || ch.Start != s.a.WindowStart.UnixMilli() || v.Sizes()[ch.Size].Label != s.a.Type) {
			t.Fatalf("step %d: change %+v", i, ch)
		}
	}
	if c, ok := v.Get(0, "a", cur.UnixMilli()); !ok || c.Count != 4 || !c.Final || c.End-c.Start != 60_000 {
		t.Fatalf("Get = %+v, %v", c, ok)
	}
	if c := v.Current(1, "a", at); c.Count != 7 || c.Final {
		t.Fatalf("Current 5min = %+v", c)
	}
	if c := v.Current(0, "zzz", at); c.Count != 0 || c.Start != cur.UnixMilli() {
		t.Fatalf("Current of unknown video = %+v", c)
	}
}

func TestCountsLastClosed(t *testing.T) {
	v := New(sizes, 2)
	cur := at.Truncate(time.Minute)
	prev := cur.Add(-time.Minute)
	got := v.Counts("a", at)
	if len(got) != 2 || got[0].LastClosed != nil || got[0].Current.Count != 0 || got[0].Size.Label != "1min" {
		t.Fatalf("empty view: %+v", got)
	}
	v.Apply(min1("a", prev, 5, false), at)
	v.Apply(min1("a", cur, 2, false), at)
	got = v.Counts("a", at)
	if got[0].Current.Count != 2 || got[0].LastClosed != nil {
		t.Fatalf("no final yet: %+v", got[0])
	}
	// Another video's final shows that prev closed; a's final is not in yet.
	v.Apply(min1("b", prev, 1, true), at)
	got = v.Counts("a", at)
	if lc := got[0].LastClosed; lc == nil || lc.Count != 5 || lc.Final || lc.Start != prev.UnixMilli() {
		t.Fatalf("last closed before a's final: %+v", lc)
	}
	v.Apply(min1("a", prev, 6, true), at)
	if lc := v.Counts("a", at)[0].LastClosed; lc.Count != 6 || !lc.Final {
		t.Fatalf("last closed: %+v", lc)
	}
	// A video without likes in the closed window: 0, final.
	if lc := v.Counts("c", at)[0].LastClosed; lc.Count != 0 || !lc.Final {
		t.Fatalf("last closed of an idle video: %+v", lc)
	}
	// Three minutes later the closed window is beyond the horizon.
	if lc := v.Counts("a", at.Add(3*time.Minute))[0].LastClosed; lc != nil {
		t.Fatalf("last closed beyond the horizon: %+v", lc)
	}
}

func TestPrune(t *testing.T) {
	v := New(sizes, 1)
	cur := at.Truncate(time.Minute)
	v.Apply(min1("a", cur.Add(-time.Minute), 1, false), at)
	v.Apply(min1("a", cur, 1, false), at)
	v.Apply(agg("5min", "a", at.Truncate(5*time.Minute), 5*time.Minute, 1, false), at)
	if w, c := v.Stats(); w != 3 || c != 3 {
		t.Fatalf("stats %d windows %d counts", w, c)
	}
	if n := v.Prune(at); n != 0 {
		t.Fatalf("pruned %d at once", n)
	}
	if n := v.Prune(at.Add(time.Minute)); n != 1 {
		t.Fatalf("pruned %d a minute later, want 1", n)
	}
	if n := v.Prune(at.Add(10 * time.Minute)); n != 2 {
		t.Fatalf("pruned %d ten minutes later, want 2", n)
	}
	if w, c := v.Stats(); w != 0 || c != 0 {
		t.Fatalf("stats after prune: %d, %d", w, c)
	}
}

func TestTop(t *testing.T) {
	v := New(sizes, 2)
	cur := at.Truncate(time.Minute)
	for i := range 50 {
		v.Apply(min1(fmt.Sprintf("v%02d", i), cur, uint64(i%10), false), at)
	}
	v.Apply(min1("old", cur.Add(-time.Minute), 1000, true), at) // not the current window
	win, top := v.Top(0, at, 4)
	if win.Start != cur.UnixMilli() || win.Size != 60_000 {
		t.Fatalf("window %+v", win)
	}
	want := []Ranked{{"v09", 9}, {"v19", 9}, {"v29", 9}, {"v39", 9}}
	if fmt.Sprint(top) != fmt.Sprint(want) {
		t.Fatalf("top = %v, want %v", top, want)
	}
	if _, top := v.Top(0, at, 100); len(top) != 50 || top[49].Count != 0 {
		t.Fatalf("top 100 of 50: %d entries, last %+v", len(top), top[len(top)-1])
	}
	if _, top := v.Top(1, at, 10); len(top) != 0 {
		t.Fatalf("top of an empty size: %v", top)
	}
	if _, top := v.Top(0, at, 0); top != nil {
		t.Fatalf("limit 0: %v", top)
	}
}

func TestSizeIndex(t *testing.T) {
	v := New(sizes, 0)
	if v.Keep() != DefaultKeep || v.SizeIndex("5min") != 1 || v.SizeIndex("2s") != -1 {
		t.Fatal("SizeIndex or Keep")
	}
	if Applied.String() != "applied" || Stale.String() != "stale" || UnknownSize.String() != "unknown_size" || Unchanged.String() != "unchanged" {
		t.Fatal("Result names")
	}
}

func BenchmarkApply(b *testing.B) {
	v := New(sizes, 2)
	cur := at.Truncate(time.Minute)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("video-%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.Apply(min1(ids[i%len(ids)], cur, uint64(i), false), at)
	}
}
