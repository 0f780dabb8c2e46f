package worker

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
)

// Counts reach the store at checkpoints, not after every transaction.
//
// The store only has to agree with the changelog offset it records: a worker
// that takes a partition replays the changelog from that offset. So apply
// keeps the counts a transaction committed in w.pending, and a checkpoint
// writes them with the offset that covers them, in one batch: every
// Config.CheckpointInterval, when maxPendingKeys are pending, when the
// partition is revoked and when the worker stops. A count rewritten by many
// transactions in between (the counts of open windows change all the time)
// is written once. A crash loses the pending counts, and the next owner
// replays at most one checkpoint interval more of the changelog.
//
// Everything else a transaction changes (watermarks, idempotency records,
// deleted windows) is written at once: a replay from the older offset writes
// the same values again. Reads of counts the cache does not hold look at
// w.pending before the store.

// maxPendingKeys bounds the counts kept for the next checkpoint.
const maxPendingKeys = 1 << 20

// pendingTask holds the committed counts of one partition not yet written.
type pendingTask struct {
	counts map[window.Window]map[string]uint64
	next   int64 // changelog offset the store reflects once they are written; -1 unknown
	keys   int64 // change of the partition's key count (store.Batch.AddKeys) they make
}

// pendingFor returns partition p's pending state, creating it.
func (w *Worker) pendingFor(p int32) *pendingTask {
	pt := w.pending[p]
	if pt == nil {
		pt = &pendingTask{counts: map[window.Window]map[string]uint64{}, next: -1}
		w.pending[p] = pt
	}
	return pt
}

// pendingCount returns the pending count of id in window win of partition p.
func (w *Worker) pendingCount(p int32, win window.Window, id []byte) (uint64, bool) {
	pt := w.pending[p]
	if pt == nil {
		return 0, false
	}
	c, ok := pt.counts[win][string(id)]
	return c, ok
}

// deferCounts adds the counts of window win a transaction committed to the
// pending ones.
func (w *Worker) deferCounts(p int32, win window.Window, changed map[string]uint64) {
	pt := w.pendingFor(p)
	m := pt.counts[win]
	if m == nil {
		m = make(map[string]uint64, len(changed))
		pt.counts[win] = m
	}
	for id, c := range changed {
		if _, had := m[id]; !had {
			w.pendingKeys++
		}
		m[id] = c
	}
}

// dropPendingWindow forgets the pending counts of a deleted window.
func (w *Worker) dropPendingWindow(p int32, win window.Window) {
	if pt := w.pending[p]; pt != nil {
		w.pendingKeys -= len(pt.counts[win])
		delete(pt.counts, win)
	}
}

// checkpointDue reports whether apply should write the pending counts now.
func (w *Worker) checkpointDue() bool {
	return w.pendingKeys >= maxPendingKeys || time.Since(w.checkpointed) >= w.cfg.CheckpointInterval
}

// writePending adds partition p's pending counts and changelog offset to b
// and forgets them.
func (w *Worker) writePending(b *store.Batch, p int32) error {
	pt := w.pending[p]
	if pt == nil {
		return nil
	}
	var val []byte
	for win, m := range pt.counts {
		for id, c := range m {
			w.key = store.CountKey(w.key[:0], p, win, nil)
			w.key = append(w.key, id...)
			val = binary.BigEndian.AppendUint64(val[:0], c)
			if err := b.Set(w.key, val); err != nil { // the batch copies key and value
				return err
			}
		}
		w.pendingKeys -= len(m)
	}
	if err := b.AddKeys(p, pt.keys); err != nil {
		return err
	}
	if pt.next >= 0 {
		if err := b.SetChangelogNext(p, pt.next); err != nil {
			return err
		}
	}
	delete(w.pending, p)
	return nil
}

// flushPending writes the pending counts of the given partitions (all when
// parts is nil) to the store now.
func (w *Worker) flushPending(parts ...int32) error {
	if parts == nil {
		for p := range w.pending {
			parts = append(parts, p)
		}
	}
	b := w.store.NewBatch()
	for _, p := range parts {
		if err := w.writePending(b, p); err != nil {
			b.Discard()
			return err
		}
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("writing pending counts: %w", err)
	}
	return nil
}
