package worker

import (
	"maps"
	"slices"
	"sync"

	"github.com/counter-dev/counter/internal/pipeline/workerstatus"
)

// restoring tracks the partitions whose state the worker is restoring and
// how far each has got, for its status (status.go). The Run goroutine and
// the restore's background writers update it; the status writer reads it.
// Safe for concurrent use.
type restoring struct {
	changed func() // called when partitions start or finish restoring

	mu    sync.Mutex
	parts map[int32]workerstatus.Restore
}

// newRestoring returns an empty tracker that calls changed when
// partitions start or finish restoring.
func newRestoring(changed func()) *restoring {
	return &restoring{changed: changed, parts: map[int32]workerstatus.Restore{}}
}

// begin marks parts restoring, with nothing replayed yet.
func (r *restoring) begin(parts []int32) {
	r.mu.Lock()
	for _, p := range parts {
		r.parts[p] = workerstatus.Restore{Partition: p}
	}
	r.mu.Unlock()
	r.changed()
}

// progress records that restored of total changelog offsets of partition
// p are replayed; p must be restoring.
func (r *restoring) progress(p int32, restored, total int64) {
	r.mu.Lock()
	if _, ok := r.parts[p]; ok {
		r.parts[p] = workerstatus.Restore{Partition: p, Restored: restored, Total: total}
	}
	r.mu.Unlock()
}

// done marks parts restored (or no longer restoring).
func (r *restoring) done(parts ...int32) {
	r.mu.Lock()
	n := len(r.parts)
	for _, p := range parts {
		delete(r.parts, p)
	}
	removed := len(r.parts) < n
	r.mu.Unlock()
	if removed {
		r.changed()
	}
}

// snapshot returns the partitions restoring, in partition order.
func (r *restoring) snapshot() []workerstatus.Restore {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]workerstatus.Restore, 0, len(r.parts))
	for _, p := range slices.Sorted(maps.Keys(r.parts)) {
		out = append(out, r.parts[p])
	}
	return out
}
