package worker

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/worker/task"
)

// restoreBatchBytes bounds the store batches of a replayed changelog tail,
// well under half of Pebble's memtable: a larger batch is turned into a
// flushable batch, which Pebble sorts.
const restoreBatchBytes = 1 << 20

// restoreFetchBytes bounds the changelog fetched at once (compressed)
// while restoring: the client decodes what it fetched into records in
// memory, and buffers a fetch ahead.
const restoreFetchBytes = 2 << 20

// bulkTail is how many changelog records of a partition that is not empty
// make restore apply them with a store.Loader rather than through batches.
var bulkTail int64 = 100000

// restoreStall is how long a restore waits for changelog records before it
// checks whether the partitions still being read have anything left to
// deliver (see skipInvisible).
var restoreStall = 500 * time.Millisecond

// largeReplay is how many replayed records make restore give the heap they
// needed back to the system at once.
const largeReplay = 100000

// replayPart is the replay of one partition's changelog.
type replayPart struct {
	p         int32
	from, to  int64        // changelog offsets to replay, [from, to)
	next      int64        // next offset to apply
	n         int64        // records applied
	bulk      bool         // applied with a store.Loader
	empty     bool         // the store holds nothing of p
	b         *store.Batch // not bulk: the batch being built
	probe     probeMemo    // the last look for records left before to
	remaining prometheus.Gauge
}

// restore brings the local state of partitions parts up to date with their
// changelogs and loads their tasks. The store knows which changelog offset
// each partition reflects, so only the tail is replayed; a store that is
// ahead of the changelog (the topic was recreated) is wiped and rebuilt.
// One consumer reads the changelogs of all the partitions. Those the store
// holds nothing of, and long tails, are applied in bulk (sorted, written as
// sstables: see store.Loader); short tails through batches.
func (w *Worker) restore(ctx context.Context, parts []int32) (map[int32]*owned, error) {
	start := time.Now()
	for _, p := range parts {
		w.standbys.own(p)
	}
	w.restoring.begin(parts)
	defer w.restoring.done(parts...)
	ends, err := w.adm.ListCommittedOffsets(ctx, topics.Changelog)
	if err != nil {
		return nil, err
	}
	starts, err := w.adm.ListStartOffsets(ctx, topics.Changelog)
	if err != nil {
		return nil, err
	}
	tasks := map[int32]*owned{}
	todo := map[int32]*replayPart{}
	for _, p := range parts {
		next, err := w.store.ChangelogNext(p)
		if err != nil {
			return nil, err
		}
		end, ok1 := ends.Lookup(topics.Changelog, p)
		first, ok2 := starts.Lookup(topics.Changelog, p)
		if !ok1 || !ok2 || end.Err != nil || first.Err != nil {
			return nil, fmt.Errorf("cannot list offsets of %s partition %d", topics.Changelog, p)
		}
		if next > end.Offset || next < first.Offset {
			w.log.Warn("local state does not match the changelog; rebuilding it", "partition", p,
				"local_offset", next, "changelog_start", first.Offset, "changelog_end", end.Offset)
			if err := w.store.DropPartition(p); err != nil {
				return nil, err
			}
			next = first.Offset
		}
		if next >= end.Offset {
			if tasks[p], err = w.loadTask(p, 0, time.Since(start)); err != nil {
				return nil, err
			}
			w.restoring.done(p)
			continue
		}
		empty, err := w.store.Empty(p)
		if err != nil {
			return nil, err
		}
		todo[p] = &replayPart{p: p, from: next, to: end.Offset, next: next, empty: empty,
			bulk:      empty || end.Offset-next >= bulkTail,
			remaining: w.m.RestoreRemaining.WithLabelValues(strconv.Itoa(int(p)))}
	}
	if len(todo) > 0 {
		if err := w.replay(ctx, todo, start, tasks); err != nil {
			return nil, err
		}
		var replayed int64
		for _, rp := range todo {
			replayed += rp.n
		}
		if replayed >= largeReplay {
			// A large replay leaves a heap sized for it behind (records
			// fetched, the loader's sort entries): give it back now
			// rather than when the runtime gets to it, as an idle worker
			// may not collect for minutes.
			debug.FreeOSMemory()
		}
	}
	return tasks, nil
}

// report publishes how far the replay of rp has got: the remaining
// records' gauge and the worker's status.
func (rp *replayPart) report(r *restoring) {
	rp.remaining.Set(float64(rp.to - rp.next))
	r.progress(rp.p, rp.next-rp.from, rp.to-rp.from)
}

// replayRecords applies the fetched records of one partition.
func (w *Worker) replayRecords(rp *replayPart, loader *store.Loader, recs []*kgo.Record) error {
	for _, r := range recs {
		if r.Offset >= rp.to {
			break
		}
		rp.next = r.Offset + 1
		if r.Attrs.IsControl() {
			continue
		}
		var err error
		if rp.bulk {
			err = loader.Add(rp.p, r.Key, r.Value)
		} else {
			err = rp.b.Replay(rp.p, r.Key, r.Value)
		}
		if err != nil {
			return err
		}
		rp.n++
		if !rp.bulk && rp.b.Size() >= restoreBatchBytes {
			if err := rp.commit(w.store); err != nil {
				return err
			}
		}
	}
	return nil
}

// commit writes the batch of a tail replay with the offset it reaches.
func (rp *replayPart) commit(st *store.Store) error {
	b := rp.b
	rp.b = nil
	if err := b.SetChangelogNext(rp.p, rp.next); err != nil {
		b.Discard()
		return err
	}
	if err := b.Commit(); err != nil {
		return err
	}
	if rp.next < rp.to {
		rp.b = st.NewBatch()
	}
	return nil
}

// finishReplay writes what remains of a partition's replay and loads its
// task.
func (w *Worker) finishReplay(ctx context.Context, rp *replayPart, loader *store.Loader, start time.Time) (*owned, error) {
	began := time.Now()
	runs := 0
	if rp.bulk {
		var err error
		if _, runs, err = loader.Finish(ctx, rp.p, rp.next); err != nil {
			return nil, err
		}
	} else if err := rp.commit(w.store); err != nil {
		return nil, err
	}
	rp.remaining.Set(0)
	w.m.Restored.Add(float64(rp.n))
	took := time.Since(start)
	w.log.Info("restore done", "partition", rp.p, "records", rp.n, "took", took.Round(time.Millisecond),
		"records_per_s", int64(float64(rp.n)/max(took.Seconds(), 1e-3)), "bulk", rp.bulk,
		"sorted_runs", runs, "write", time.Since(began).Round(time.Millisecond))
	return w.loadTask(rp.p, rp.n, took)
}

// loadTask reads the task of partition p from the store.
func (w *Worker) loadTask(p int32, replayed int64, took time.Duration) (*owned, error) {
	marks, err := w.store.Watermarks(p)
	if err != nil {
		return nil, err
	}
	wins, err := w.store.Windows(p)
	if err != nil {
		return nil, err
	}
	demo, err := w.store.Int(store.DemoKey(p))
	if err != nil {
		return nil, err
	}
	keys, err := w.store.KeyCount(p)
	if err != nil {
		return nil, err
	}
	o := w.newOwned(p, demo, task.Restored{Marks: marks, Windows: wins, Keys: keys})
	w.log.Info("partition ready", "partition", p, "replayed", replayed, "windows", len(wins), "keys", keys,
		"took", took.Round(time.Millisecond))
	return o, nil
}

// newOwned returns partition p's shell state with its counting core.
func (w *Worker) newOwned(p int32, demoTick int64, r task.Restored) *owned {
	o := &owned{demoTick: demoTick}
	o.core = task.New(p, task.Config{Policy: w.cfg.Policy, IdempotencyWindow: w.cfg.IdempotencyWindow.Milliseconds()}, partState{w: w, o: o, p: p}, r)
	return o
}
