package audit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// sizes2and4 are 2 s and 4 s windows.
func sizes2and4(t *testing.T) []window.Size {
	t.Helper()
	s, err := window.ParseSizes([]string{"2s", "4s"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// feed builds a recount from records in the order Run uses.
type feed struct {
	r      *Recount
	offset map[int32]int64
}

func newFeed(t *testing.T) *feed {
	return &feed{r: NewRecount(sizes2and4(t)), offset: map[int32]int64{}}
}

// like ingests a like of video at ts into partition p and returns its offset.
func (f *feed) like(p int32, video string, ts int64, headers ...Header) int64 {
	off := f.offset[p]
	f.offset[p]++
	f.r.Ingested(Record{Topic: topics.Ingestion, Partition: p, Offset: off, Timestamp: ts, Value: []byte(video), Headers: headers})
	return off
}

func (f *feed) final(size int64, video string, start int64, count uint64) {
	label := window.NewSize(size).Label
	f.r.Output(size, Record{Value: record.AppendAggregation(nil, label, video, count, start, start+size, true)})
}

func idem(key string, seq int) []Header {
	return []Header{{record.IdempotencyKeyHeader, []byte(key)}, {record.SeqHeader, []byte(fmt.Sprint(seq))}}
}

// all is a range holding every window of the tests.
var all = Range{From: 0, To: 1 << 50, Grace: 1000}

func expectOnly(t *testing.T, res Result, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	for _, d := range res.Drifts {
		if d.Kind != DriftMissing {
			t.Errorf("unexpected drift %+v", d)
			continue
		}
		got[fmt.Sprintf("%s/%s/%d", d.Video, d.Window, d.WindowStart.UnixMilli())] = d.Expected
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("expected counts (as missing finals) %v, want %v", got, want)
	}
}

func TestWindowStart(t *testing.T) {
	for _, c := range []struct{ ts, size, want int64 }{
		{0, 2000, 0}, {1999, 2000, 0}, {2000, 2000, 2000}, {2001, 2000, 2000}, {-1, 2000, -2000}, {-2000, 2000, -2000},
	} {
		if got := windowStart(c.ts, c.size); got != c.want {
			t.Errorf("windowStart(%d, %d) = %d, want %d", c.ts, c.size, got, c.want)
		}
	}
}

// A like stamped exactly at a window's end belongs to the next window.
func TestBoundaryBelongsToNextWindow(t *testing.T) {
	f := newFeed(t)
	f.like(0, "v", 1999)
	f.like(0, "v", 2000)
	f.like(0, "v", 4000)
	expectOnly(t, f.r.Compare(all), map[string]int64{
		"v/2s/0": 1, "v/2s/2000": 1, "v/2s/4000": 1, "v/4s/0": 2, "v/4s/4000": 1,
	})
}

func TestInvalidRecordsAreNotLikes(t *testing.T) {
	f := newFeed(t)
	f.like(0, "", 100)
	f.like(0, "bad id", 100)
	f.like(0, strings.Repeat("a", 129), 100)
	// The pipeline's own headers set by a producer mean nothing: each of
	// these is one plain like.
	f.like(0, "v", 100, Header{record.LikesHeader, []byte("0")})
	f.like(0, "v", 100, Header{record.MarkHeader, []byte("0/1/5")})
	f.like(0, "v", 100, Header{record.LikesHeader, []byte("5")})
	res := f.r.Compare(all)
	expectOnly(t, res, map[string]int64{"v/2s/0": 3, "v/4s/0": 3})
	if res.Input.Invalid != 3 || res.Input.IngestionRecords != 6 || res.Input.Likes != 3 {
		t.Errorf("input stats %+v", res.Input)
	}
}

func TestIdempotentLikesCountOnce(t *testing.T) {
	f := newFeed(t)
	f.like(0, "v", 100, idem("k", 0)...)
	f.like(0, "v", 100, idem("k", 1)...)
	f.like(0, "v", 2500, idem("k", 0)...) // a retry, in a later window: the first copy counts
	f.like(0, "w", 100, idem("k", 0)...)  // keys are scoped to the video
	f.like(0, "v", 100, idem("k", -1)...) // a bad index: dead-lettered as bad_idempotency
	f.like(0, "v", 100, idem("k", 1<<16)...)
	res := f.r.Compare(all)
	expectOnly(t, res, map[string]int64{"v/2s/0": 2, "v/4s/0": 2, "w/2s/0": 1, "w/4s/0": 1})
	if res.Input.Duplicates != 1 || res.Input.Invalid != 2 {
		t.Errorf("duplicates %d, invalid %d; want 1 and 2", res.Input.Duplicates, res.Input.Invalid)
	}
}

// Across partitions the earlier copy of an idempotent like counts,
// whichever partition is read first.
func TestIdempotentAcrossPartitionsEarliestCounts(t *testing.T) {
	f := newFeed(t)
	f.like(1, "v", 2500, idem("k", 0)...)
	f.like(0, "v", 100, idem("k", 0)...)
	expectOnly(t, f.r.Compare(all), map[string]int64{"v/2s/0": 1, "v/4s/0": 1})
}

func futureDL(p int32, off int64) Record {
	return Record{Headers: []Header{{record.ReasonHeader, []byte(record.ReasonFuture)},
		{record.SourceHeader, []byte(fmt.Sprintf("%s/%d/%d", topics.Ingestion, p, off))}}}
}

func TestFutureLikesCountNowhere(t *testing.T) {
	f := newFeed(t)
	f.r.DeadLettered(futureDL(0, 1))
	f.r.DeadLettered(futureDL(1, 0)) // another partition's offset 0
	f.like(0, "v", 100)
	f.like(0, "v", 100_000, idem("k", 0)...) // dead-lettered: its retry counts
	f.like(0, "v", 2100, idem("k", 0)...)
	res := f.r.Compare(all)
	expectOnly(t, res, map[string]int64{"v/2s/0": 1, "v/2s/2000": 1, "v/4s/0": 2})
	if res.Input.Future != 1 {
		t.Errorf("future %d, want 1", res.Input.Future)
	}
}

// A like whose forwarded record the broker refused for good is
// dead-lettered as produce_error and counted nowhere.
func TestRefusedLikesCountNowhere(t *testing.T) {
	f := newFeed(t)
	f.r.DeadLettered(Record{Headers: []Header{{record.ReasonHeader, []byte(record.ReasonProduceError)},
		{record.SourceHeader, []byte(fmt.Sprintf("%s/%d/%d", topics.Ingestion, 0, 1))}}})
	f.like(0, "v", 100, idem("k", 0)...)
	f.like(0, "v", 200, idem("k", 0)...) // a retry, refused: neither counted nor a duplicate
	f.like(0, "v", 300, idem("k", 0)...)
	res := f.r.Compare(all)
	expectOnly(t, res, map[string]int64{"v/2s/0": 1, "v/4s/0": 1})
	if res.Input.Refused != 1 || res.Input.Duplicates != 1 {
		t.Errorf("refused %d, duplicates %d; want 1 and 1", res.Input.Refused, res.Input.Duplicates)
	}
}

func lateDL(video string, ts int64, labels string, extra ...Header) Record {
	return Record{Value: []byte(video), Timestamp: ts, Headers: append([]Header{{record.ReasonHeader, []byte(record.ReasonLate)},
		{record.SourceHeader, []byte(topics.Partitioned + "/0/7")}, {record.LateWindowsHeader, []byte(labels)}}, extra...)}
}

// A late like is not counted in the windows that had closed, but still in
// the larger open ones.
func TestLateLikesExcludedFromTheirClosedWindowsOnly(t *testing.T) {
	f := newFeed(t)
	f.r.DeadLettered(lateDL("v", 500, "2s"))
	f.r.DeadLettered(lateDL("v", 1500, "2s,4s", Header{record.LikesHeader, []byte("3")})) // combined likes
	f.r.DeadLettered(lateDL("w", 100, "2s", idem("k", 0)...))
	f.r.DeadLettered(lateDL("v", 9000, "2s")) // a like after the end read: ignored
	f.like(0, "v", 100)
	f.like(0, "v", 500)
	f.like(0, "v", 1200)
	f.like(0, "v", 1400)
	f.like(0, "v", 1500)
	f.like(0, "w", 100, idem("k", 0)...)
	f.like(0, "w", 100, idem("k", 0)...)
	res := f.r.Compare(all)
	expectOnly(t, res, map[string]int64{"v/2s/0": 1, "v/4s/0": 2, "w/4s/0": 1})
	if res.Input.Late != 5 {
		t.Errorf("late %d, want 5", res.Input.Late)
	}
}

func TestCompareFindsEachKindOfDrift(t *testing.T) {
	f := newFeed(t)
	for range 3 {
		f.like(0, "ok", 100)
	}
	f.like(0, "wrong", 100)
	f.like(0, "missing", 100)
	f.like(0, "dup", 100)
	for _, v := range []string{"ok", "wrong", "dup", "dup"} {
		f.final(4000, v, 0, 1)
	}
	f.final(2000, "ok", 0, 3)
	f.final(2000, "wrong", 0, 2)
	f.final(2000, "missing", 0, 1) // only the 4 s window misses its final
	f.final(2000, "dup", 0, 1)
	f.final(2000, "unexpected", 2000, 4)
	f.r.Output(2000, Record{Value: record.AppendAggregation(nil, "2s", "ok", 3, 0, 2000, false)}) // updates are ignored
	res := f.r.Compare(all)
	if res.Checked != 9 || res.Matching != 4 || res.Drifting != 5 || !strings.Contains(fmt.Sprint(res.OK()), "false") {
		t.Fatalf("checked %d, matching %d, drifting %d: %+v", res.Checked, res.Matching, res.Drifting, res.Drifts)
	}
	got := map[string]string{}
	for _, d := range res.Drifts {
		got[d.Video+"/"+d.Window] = fmt.Sprintf("%s %d %v", d.Kind, d.Expected, d.Counted)
	}
	want := map[string]string{
		"wrong/2s":      "wrong_count 1 [2]",
		"wrong/4s":      "", // matching
		"missing/4s":    "missing_final 1 []",
		"dup/4s":        "duplicate_finals 1 [1 1]",
		"unexpected/2s": "unexpected_final 0 [4]",
		"ok/4s":         "wrong_count 3 [1]",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
}

// Windows outside the range, such as those still open, are not checked.
func TestCompareOnlyInRange(t *testing.T) {
	f := newFeed(t)
	f.like(0, "v", 100)  // 2 s window closes at 3000, 4 s at 5000
	f.like(0, "v", 4100) // 2 s window [4000, 6000)
	f.final(2000, "v", 0, 1)
	f.final(2000, "v", 4000, 7) // wrong, but before the range
	res := f.r.Compare(Range{From: 0, To: 4999, Grace: 1000})
	if res.Checked != 1 || res.Matching != 1 || !res.OK() {
		t.Errorf("only the first 2 s window should be checked: %+v", res)
	}
	res = f.r.Compare(Range{From: 4000, To: 1 << 50, Grace: 1000})
	if res.Checked != 2 || res.Drifting != 2 {
		t.Errorf("windows from 4000 on: %+v", res)
	}
}

func TestMalformedFinalsFailTheAudit(t *testing.T) {
	f := newFeed(t)
	f.r.Output(2000, Record{Value: []byte("not json")})
	f.r.Output(2000, Record{Value: record.AppendAggregation(nil, "2s", "v", 1, 0, 4000, true)}) // wrong size
	f.r.Output(2000, Record{Value: record.AppendAggregation(nil, "2s", "v", 1, 1000, 3000, true)})
	res := f.r.Compare(all)
	if res.Input.MalformedFinals != 3 || res.OK() || res.Checked != 0 {
		t.Errorf("%+v", res)
	}
}

func TestParseSource(t *testing.T) {
	topic, p, off, ok := parseSource("video_clicks_ingestion/3/42")
	if !ok || topic != topics.Ingestion || p != 3 || off != 42 {
		t.Errorf("got %q %d %d %v", topic, p, off, ok)
	}
	for _, bad := range []string{"", "a/b", "t/x/1", "t/1/y"} {
		if _, _, _, ok := parseSource(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestWriteText(t *testing.T) {
	f := newFeed(t)
	f.like(0, "v", 100)
	f.final(2000, "v", 0, 2)
	var b strings.Builder
	if err := WriteText(&b, f.r.Compare(all)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"windows checked: 2, matching: 0, drifting: 2",
		"drift: video v, 2s window 1970-01-01T00:00:00Z to 1970-01-01T00:00:02Z: expected 1, counted 2 (wrong_count)",
		"drift: video v, 4s window 1970-01-01T00:00:00Z to 1970-01-01T00:00:04Z: expected 1, counted no final (missing_final)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}
