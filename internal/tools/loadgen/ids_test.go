package loadgen

import (
	"math"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

func TestVideoIDs(t *testing.T) {
	ids := VideoIDs(100000)
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		if err := videoid.ValidateString(id); err != nil || len(id) != 36 {
			t.Fatalf("VideoID(%d) = %q: %v", i, id, err)
		}
		if seen[id] {
			t.Fatalf("VideoID(%d) = %q repeats an earlier id", i, id)
		}
		seen[id] = true
	}
	if VideoID(7) != ids[7] {
		t.Error("VideoID is not stable")
	}
}

func TestPicker(t *testing.T) {
	const n, draws = 1000, 200000
	for _, d := range []Distribution{Uniform, Zipf} {
		p, err := NewPicker(d, n, 42)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]int, n)
		for range draws {
			v := p.Next()
			if v < 0 || v >= n {
				t.Fatalf("%s: index %d out of [0, %d)", d, v, n)
			}
			counts[v]++
		}
		top := 0
		for _, c := range counts[:n/100] {
			top += c
		}
		share := float64(top) / draws
		switch d {
		case Uniform:
			if math.Abs(share-0.01) > 0.005 {
				t.Errorf("uniform: first 1%% of videos got %.3f of the draws", share)
			}
		case Zipf:
			if share < 0.3 || counts[0] < counts[n-1] {
				t.Errorf("zipf: first 1%% of videos got only %.3f of the draws", share)
			}
		}
	}
	if _, err := NewPicker(Zipf, 0, 1); err == nil {
		t.Error("no videos accepted")
	}
	if _, err := ParseDistribution("normal"); err == nil {
		t.Error("unknown distribution accepted")
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
	for us := 1; us <= 10000; us++ {
		h.Record(time.Duration(us) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.04 {
			t.Errorf("quantile %v = %v, want %v within 4%%", c.q, got, c.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %v, count %d", h.Max(), h.Count())
	}
}

// Every value falls into a bucket whose bounds hold it, and buckets are in
// order.
func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for us := int64(0); us < 1<<33; us = us*9/8 + 1 {
		b := bucketOf(us)
		if b < prev || b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", us, b, prev)
		}
		if us < 1<<31 && (upperOf(b) < us || (b > 0 && upperOf(b-1) >= us)) {
			t.Fatalf("value %d in bucket %d with bounds (%d, %d]", us, b, upperOf(b-1), upperOf(b))
		}
		prev = b
	}
}
