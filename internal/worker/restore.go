package worker

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkalog"
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

// replay applies the changelog records [from, to) of the partitions in todo
// to the store, and loads their tasks into tasks.
func (w *Worker) replay(ctx context.Context, todo map[int32]*replayPart, start time.Time, tasks map[int32]*owned) error {
	offsets := map[int32]kgo.Offset{}
	var loader *store.Loader
	for _, p := range slices.Sorted(maps.Keys(todo)) {
		rp := todo[p]
		offsets[p] = kgo.NewOffset().At(rp.from)
		w.log.Info("restoring partition state from the changelog", "partition", p, "from", rp.from, "to", rp.to,
			"records", rp.to-rp.from, "bulk", rp.bulk, "empty", rp.empty)
		rp.remaining.Set(float64(rp.to - rp.from))
		if rp.bulk && loader == nil {
			var err error
			if loader, err = w.store.NewLoader(); err != nil {
				return err
			}
			defer loader.Close()
		}
		switch {
		case !rp.bulk:
			rp.b = w.store.NewBatch()
		case !rp.empty:
			loader.Onto(p)
		}
	}
	defer func() {
		for _, rp := range todo {
			if rp.b != nil {
				rp.b.Discard()
			}
		}
	}()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(restoreFetchBytes),
		kgo.WithLogger(kafkalog.New(w.log)),
	)
	if err != nil {
		return err
	}
	closeClient := sync.OnceFunc(cl.Close)
	defer closeClient()
	// Partitions built in bulk are written out in the background, while
	// the others are still read, as many at once as there are cores.
	type finished struct {
		p   int32
		tk  *owned
		err error
	}
	results := make(chan finished, len(todo))
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // on an error, the writers still waiting give up
	defer cancel()
	collect := func(r finished) error {
		if r.err != nil {
			return fmt.Errorf("restoring partition %d: %w", r.p, r.err)
		}
		tasks[r.p] = r.tk
		return nil
	}
	left, writing := len(todo), 0
	lastLog := time.Now()
	for left > writing {
		pollCtx, cancelPoll := context.WithTimeout(ctx, restoreStall)
		fetches := cl.PollFetches(pollCtx)
		cancelPoll()
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			w.log.Warn("changelog fetch error during restore", "partition", errs[0].Partition, "err", errs[0].Err)
		}
		var err error
		var done []int32
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			rp := todo[fp.Partition]
			if err != nil || rp == nil || rp.next >= rp.to {
				return
			}
			if err = w.replayRecords(rp, loader, fp.Records); err != nil {
				return
			}
			rp.remaining.Set(float64(rp.to - rp.next))
			if rp.next >= rp.to {
				done = append(done, rp.p)
			}
		})
		if err != nil {
			return err
		}
		if fetches.NumRecords() == 0 {
			// Nothing came for a while: the partitions not done may end
			// in offsets the consumer skips without a word (aborted
			// transactions, compacted batches). A partition is done
			// when its position reaches the end, not when a record at
			// the end's offset arrives.
			for _, p := range slices.Sorted(maps.Keys(todo)) {
				rp := todo[p]
				if rp.next >= rp.to {
					continue
				}
				atEnd, known := rp.probe.reaches(rp.next, rp.to)
				if !known {
					next, err := skipInvisible(ctx, w.kcl, topics.Changelog, p, rp.next, rp.to)
					if err != nil {
						w.log.Warn("cannot look ahead in the changelog during restore", "partition", p, "offset", rp.next, "err", err)
						continue
					}
					rp.probe = probeMemo{from: rp.next, next: next, valid: true}
					atEnd = next >= rp.to
				}
				if atEnd {
					w.log.Info("the rest of the changelog is invisible to read_committed readers (aborted or compacted)",
						"partition", p, "from", rp.next, "to", rp.to)
					rp.next = rp.to
					rp.remaining.Set(0)
					done = append(done, p)
				}
			}
		}
		if len(done) > 0 {
			cl.RemoveConsumePartitions(map[string][]int32{topics.Changelog: done})
		}
		for _, p := range done {
			rp := todo[p]
			if !rp.bulk {
				tk, err := w.finishReplay(ctx, rp, loader, start)
				if err := collect(finished{p, tk, err}); err != nil {
					return err
				}
				left--
				continue
			}
			writing++
			wg.Add(1)
			go func() {
				defer wg.Done()
				slots <- struct{}{}
				defer func() { <-slots }()
				if err := ctx.Err(); err != nil {
					results <- finished{p, nil, err}
					return
				}
				tk, err := w.finishReplay(ctx, rp, loader, start)
				results <- finished{p, tk, err}
			}()
		}
	drain:
		for {
			select {
			case r := <-results:
				writing--
				left--
				if err := collect(r); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		if time.Since(lastLog) > 5*time.Second {
			for _, p := range slices.Sorted(maps.Keys(todo)) {
				if rp := todo[p]; rp.next < rp.to {
					rate := float64(rp.next-rp.from) / time.Since(start).Seconds()
					w.log.Info("restore progress", "partition", p, "done", rp.next-rp.from, "total", rp.to-rp.from,
						"records_per_s", int64(rate), "eta", (time.Duration(float64(rp.to-rp.next)/max(rate, 1)) * time.Second).Round(time.Second))
				}
			}
			lastLog = time.Now()
		}
	}
	closeClient() // nothing more to read
	for ; left > 0; left-- {
		if err := collect(<-results); err != nil {
			return err
		}
	}
	return nil
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
