package bench

import (
	"errors"
	"slices"
	"testing"
	"time"
)

const ms1 = int64(time.Millisecond)

// Like k of a key is covered by the first count reaching k; counts are
// cumulative, so a count that skips numbers covers every like up to it, and
// a like whose count was pushed before its 200 arrived gets 0.
func TestCoverLikes(t *testing.T) {
	acks := []int64{10 * ms1, 20 * ms1, 30 * ms1, 140 * ms1, 170 * ms1}
	covers := []cover{
		{count: 1, at: 100 * ms1},
		{count: 1, at: 110 * ms1}, // the same count again (e.g. a snapshot): nothing new
		{count: 3, at: 150 * ms1}, // covers likes 2 and 3 at once
		{count: 5, at: 160 * ms1}, // likes 4 and 5: like 5's 200 came after the push
	}
	cv := coverLikes(acks, covers)
	want := []time.Duration{90 * time.Millisecond, 130 * time.Millisecond, 120 * time.Millisecond, 20 * time.Millisecond, 0}
	if !slices.Equal(cv.latencies, want) || cv.early != 1 {
		t.Errorf("latencies %v early %d, want %v early 1", cv.latencies, cv.early, want)
	}
	// A count below the likes acknowledged leaves the rest uncovered.
	if cv := coverLikes(acks, covers[:3]); len(cv.latencies) != 3 {
		t.Errorf("%d likes covered by a count of 3", len(cv.latencies))
	}
	// A count above them (a failed request that was counted) covers all.
	if cv := coverLikes(acks[:2], []cover{{count: 4, at: 60 * ms1}}); !slices.Equal(cv.latencies, []time.Duration{50 * time.Millisecond, 40 * time.Millisecond}) {
		t.Errorf("latencies %v", cv.latencies)
	}
	if cv := coverLikes(nil, covers); len(cv.latencies) != 0 {
		t.Errorf("no likes, latencies %v", cv.latencies)
	}
}

// Windows are matched separately: a like of the next window is not covered
// by the counts of the previous one, and the final of the previous window
// arriving after the next window's counts changes nothing.
func TestLikeLogWindows(t *testing.T) {
	l := newLikeLog()
	a, b := likeKey{"v", 0}, likeKey{"v", 60_000}
	l.ack(a)
	l.ack(a)
	l.ack(b)
	all := func(string) bool { return true }
	if u, x := l.pending(all); u != 3 || x != 0 {
		t.Fatalf("pending %d extra %d before any push", u, x)
	}
	now := time.Now()
	l.push(b, 1, false, now)
	l.push(a, 1, false, now)
	if u, _ := l.pending(all); u != 1 {
		t.Fatalf("pending %d, want 1 (the second like of the first window)", u)
	}
	l.push(a, 2, true, now.Add(time.Second))
	if u, x := l.pending(all); u != 0 || x != 0 {
		t.Fatalf("pending %d extra %d after the final", u, x)
	}
	l.push(b, 2, false, now.Add(time.Second))
	if _, x := l.pending(all); x != 1 {
		t.Fatalf("extra %d, want 1: a count above the likes acknowledged", x)
	}
	if ks := l.keys(all); !slices.Equal(ks, []likeKey{a, b}) {
		t.Fatalf("keys %v", ks)
	}
	if ks := l.keys(func(v string) bool { return v != "v" }); len(ks) != 0 {
		t.Fatalf("keys %v, want none", ks)
	}
	if n := l.acked("v"); n != 3 {
		t.Fatalf("acked %d", n)
	}
}

// matchLatencies joins pushes with the output records carrying their
// counts, and fails when a like was never pushed.
func TestMatchLatencies(t *testing.T) {
	l := newLikeLog()
	k := likeKey{"v", 0}
	l.acks[k] = []int64{10 * ms1, 20 * ms1}
	l.pushes[k] = []cover{{count: 2, at: 300 * ms1}}
	records := map[likeKey][]cover{k: {{count: 1, at: 150 * ms1}, {count: 2, at: 250 * ms1}}}
	all := func(string) bool { return true }
	var res latencyResult
	if err := matchLatencies(l, records, all, &res); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.e2e, []time.Duration{280 * time.Millisecond, 290 * time.Millisecond}) ||
		!slices.Equal(res.worker, []time.Duration{140 * time.Millisecond, 230 * time.Millisecond}) ||
		!slices.Equal(res.push, []time.Duration{50 * time.Millisecond}) || res.acked != 2 {
		t.Errorf("result %+v", res)
	}
	// A pushed count that no committed record holds is an error.
	l.pushes[k] = append(l.pushes[k], cover{count: 3, at: 400 * ms1})
	if err := matchLatencies(l, records, all, &latencyResult{}); err == nil {
		t.Error("a count without a record was accepted")
	}
	// So is a like never pushed.
	l.pushes[k] = []cover{{count: 1, at: 300 * ms1}}
	if err := matchLatencies(l, records, all, &latencyResult{}); err == nil {
		t.Error("a like never pushed was accepted")
	}
}

// The check matches the pushes received before the output records were
// listed: a final pushed while they are listed (the window closed then)
// may have been committed after the listing took the end offsets, and is
// not held against the live layer; a count pushed before the listing
// without a committed record still is.
func TestMatchCommitted(t *testing.T) {
	k := likeKey{"v", 0}
	records := map[likeKey][]cover{k: {{count: 1, at: 150 * ms1}, {count: 2, at: 250 * ms1}}}
	all := func(string) bool { return true }
	newLog := func() *likeLog {
		l := newLikeLog()
		l.acks[k] = []int64{10 * ms1, 20 * ms1}
		l.push(k, 1, false, time.Unix(0, 200*ms1))
		l.push(k, 2, false, time.Unix(0, 300*ms1))
		return l
	}
	l := newLog()
	list := func() (map[likeKey][]cover, error) {
		l.push(k, 2, true, time.Unix(0, 900*ms1)) // the final, committed after the end offsets were taken
		return records, nil
	}
	var res latencyResult
	if err := matchCommitted(l, list, all, &res); err != nil {
		t.Fatalf("a push received while the records were listed: %v", err)
	}
	if len(res.push) != 2 || len(res.e2e) != 2 || res.unlisted != 1 {
		t.Errorf("%d pushes and %d likes matched, %d pushes left out; want 2, 2 and 1", len(res.push), len(res.e2e), res.unlisted)
	}
	l = newLog()
	l.push(k, 2, true, time.Unix(0, 400*ms1))
	if err := matchCommitted(l, func() (map[likeKey][]cover, error) { return records, nil }, all, &latencyResult{}); err == nil {
		t.Error("a final pushed before the listing without a committed record was accepted")
	}
	l = newLog()
	failed := errors.New("cannot list")
	if err := matchCommitted(l, func() (map[likeKey][]cover, error) { return nil, failed }, all, &latencyResult{}); !errors.Is(err, failed) {
		t.Errorf("listing error %v", err)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{.5: 50, .9: 90, .99: 99, 1: 100, .001: 1} {
		if got := quantile(d, q); got != want {
			t.Errorf("quantile %v = %v, want %v", q, got, want)
		}
	}
	if quantile(nil, .5) != 0 || quantile(d[:1], .99) != 1 {
		t.Error("edge cases")
	}
}
