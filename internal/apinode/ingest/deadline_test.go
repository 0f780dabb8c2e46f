package ingest

import (
	"testing"
	"time"
)

func TestDeadlinesShareWithinStep(t *testing.T) {
	d := newDeadlines(time.Second)
	base := time.Unix(1_700_000_000, 0) // a multiple of every step
	ctx := d.get(base.Add(time.Millisecond))
	if d.get(base.Add(d.step-1)) != ctx {
		t.Fatal("calls in one step got different contexts")
	}
	dl, ok := ctx.Deadline()
	if !ok || dl.Sub(base) != time.Second {
		t.Fatalf("deadline %v after step start, want 1s", dl.Sub(base))
	}
	if d.get(base.Add(-1)) != ctx {
		t.Fatal("a caller one step behind did not share the newer context")
	}
	next := d.get(base.Add(d.step))
	if next == ctx {
		t.Fatal("next step reused the old context")
	}
	if dl, _ := next.Deadline(); dl.Sub(base) != time.Second+d.step {
		t.Fatalf("next deadline %v after base", dl.Sub(base))
	}
	if back := d.get(base.Add(-time.Hour)); back == next {
		t.Fatal("a clock jump back kept a context expiring an hour late")
	}
}

func TestDeadlinesRemainingBounds(t *testing.T) {
	d := newDeadlines(500 * time.Millisecond)
	now := time.Now()
	for i := range 200 {
		at := now.Add(time.Duration(i) * d.step / 7)
		dl, _ := d.get(at).Deadline()
		if left := dl.Sub(at); left > d.delay || left <= d.delay-d.step {
			t.Fatalf("call %d: %v left, want in (%v, %v]", i, left, d.delay-d.step, d.delay)
		}
	}
}
