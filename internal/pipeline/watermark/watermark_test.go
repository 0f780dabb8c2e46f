package watermark

import (
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/window"
)

func TestCombine(t *testing.T) {
	if Combine(nil) != None {
		t.Error("no marks must give None")
	}
	marks := map[int32]Mark{0: {Source: 0, Sources: 3, Watermark: 100}, 1: {Source: 1, Sources: 3, Watermark: 50}}
	if Combine(marks) != None {
		t.Error("a missing source must hold the watermark at None")
	}
	marks[2] = Mark{Source: 2, Sources: 3, Watermark: 70}
	if got := Combine(marks); got != 50 {
		t.Errorf("Combine = %d, want the minimum 50", got)
	}
	marks[0] = Mark{Source: 0, Sources: 4, Watermark: 100} // a fourth ingestion partition appeared
	if Combine(marks) != None {
		t.Error("an added source must hold the watermark until it reports")
	}
}

func TestSourceNeverGoesBackAndIsCapped(t *testing.T) {
	if got := Source(None, None, 1000); got != None {
		t.Errorf("nothing seen: %d", got)
	}
	if got := Source(None, 500, 1000); got != 500 {
		t.Errorf("got %d", got)
	}
	if got := Source(None, 5000, 1000); got != 1000 {
		t.Errorf("a timestamp ahead of the clock must be capped: %d", got)
	}
	if got := Source(800, 500, 1000); got != 800 {
		t.Errorf("went back: %d", got)
	}
}

func TestChecksAndSends(t *testing.T) {
	sizes, _ := window.ParseSizes([]string{"2s", "4s"})
	p, _ := window.NewPolicy(sizes, 500*time.Millisecond, 0)
	// Close boundaries are at 2500, 4500, 6500, ...
	if !NeedsCaughtUpCheck(p, None, 1000) {
		t.Error("no watermark yet: must check")
	}
	if NeedsCaughtUpCheck(p, 2600, 4400) {
		t.Error("no boundary between 2600 and 4400")
	}
	if !NeedsCaughtUpCheck(p, 2600, 4500) {
		t.Error("boundary 4500 passed by the clock")
	}
	if !ShouldSend(p, None, 10) || ShouldSend(p, None, None) {
		t.Error("first mark")
	}
	if ShouldSend(p, 2500, 4499) || !ShouldSend(p, 2500, 4500) {
		t.Error("marks must be sent exactly when a boundary is crossed")
	}
}
