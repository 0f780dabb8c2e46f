package worker

import (
	"reflect"
	"testing"

	"github.com/counter-dev/counter/internal/pipeline/workerstatus"
)

// The tracker lists the partitions restoring in order with their progress,
// ignores progress of partitions it does not track, and says when the set
// changes, not when progress moves.
func TestRestoringTracksPartitions(t *testing.T) {
	changes := 0
	r := newRestoring(func() { changes++ })
	r.begin([]int32{5, 2})
	r.progress(5, 10, 100)
	r.progress(7, 1, 1) // not restoring: ignored
	want := []workerstatus.Restore{{Partition: 2}, {Partition: 5, Restored: 10, Total: 100}}
	if got := r.snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot %+v, want %+v", got, want)
	}
	if changes != 1 {
		t.Errorf("%d changes after begin and progress, want 1", changes)
	}
	r.done(2)
	r.done(2, 7) // nothing left to remove
	if got := r.snapshot(); len(got) != 1 || got[0].Partition != 5 || changes != 2 {
		t.Errorf("after done(2): %+v, %d changes", got, changes)
	}
	r.done(5)
	if got := r.snapshot(); got == nil || len(got) != 0 || changes != 3 {
		t.Errorf("after done(5): %+v, %d changes", got, changes)
	}
}
