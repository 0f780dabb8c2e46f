package bench

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestHuman(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1.234: "1.23", 512: "512", 31600: "31.6K", 1.41e6: "1.41M", 999700: "1M", 2.5e9: "2.5G"} {
		if got := human(v); got != want {
			t.Errorf("human(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestReport(t *testing.T) {
	s := newSeries()
	for i, v := range []float64{100, 300, 200} {
		s.add("work", "events/s", v)
		s.add("base", "events/s", []float64{150, 600, 800}[i])
	}
	rep := &Report{Scenario: "x", Params: map[string]string{"b": "2", "a": "1"},
		Figures: []Figure{s.figure("work", "base", "≥ 1"), s.baseline("base")}}
	// Ratios run by run are 2/3, 1/2 and 1/4: their median is 1/2.
	if f := rep.Figures[0]; f.Median != 200 || f.Ratio != 0.5 || f.Baseline != "base" || len(f.Runs) != 3 {
		t.Errorf("figure %+v", f)
	}
	var table, js bytes.Buffer
	if err := rep.Write(&table, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"parameters: a=1 b=2", "50% of base", "(baseline)", "100 300 200"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := rep.Write(&js, true); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Figures[1].Median != 600 || !back.Figures[1].IsBaseline {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

// The tally counts distinct videos per window, for likes in event-time
// order.
func TestFinalTally(t *testing.T) {
	tally := newFinalTally(policy(), 3)
	tally.counts, tally.ids = map[string]int64{}, [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	const min = 60_000
	for _, l := range []struct {
		video int
		ts    int64
	}{{0, 0}, {1, 1000}, {0, 2000}, {2, min}, {2, min + 1}, {0, 6 * min}} {
		tally.add(l.video, l.ts)
	}
	got := tally.done()
	want := map[string]int64{"1min": 2 + 1 + 1, "5min": 3 + 1, "10min": 3}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d finals, want %d (all %v)", k, got[k], v, got)
		}
	}
	// The likes of every (video, window).
	counts := map[string]int64{
		"1min/a/0": 2, "1min/b/0": 1, "1min/c/60000": 2, "1min/a/360000": 1,
		"5min/a/0": 2, "5min/b/0": 1, "5min/c/0": 2, "5min/a/300000": 1,
		"10min/a/0": 3, "10min/b/0": 1, "10min/c/0": 2,
	}
	if !maps.Equal(tally.counts, counts) {
		t.Errorf("counts %v, want %v", tally.counts, counts)
	}
}
