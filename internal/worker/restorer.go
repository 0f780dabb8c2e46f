package worker

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/store"
)

// restorer replays the changelog tails of the partitions being restored
// (restore decides which, and from where) into the store, and loads their
// tasks. One consumer reads every tail; partitions built in bulk are written
// out in the background while the others are still read, as many at once
// as there are cores.
type restorer struct {
	w      *Worker
	start  time.Time
	todo   map[int32]*replayPart
	tasks  map[int32]*owned // loaded tasks, by partition
	loader *store.Loader    // for the bulk partitions; nil if none
	cl     *kgo.Client

	results chan finished // partitions written in the background
	slots   chan struct{} // bounds the background writers
	wg      sync.WaitGroup
	left    int // partitions not loaded yet
	writing int // of which, being written in the background
	lastLog time.Time
}

// finished is a partition whose replay is written out.
type finished struct {
	p   int32
	tk  *owned
	err error
}

// replay applies the changelog records [from, to) of the partitions in todo
// to the store, and loads their tasks into tasks.
func (w *Worker) replay(ctx context.Context, todo map[int32]*replayPart, start time.Time, tasks map[int32]*owned) error {
	r := &restorer{w: w, start: start, todo: todo, tasks: tasks, left: len(todo), lastLog: time.Now(),
		results: make(chan finished, len(todo)), slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	defer r.close()
	if err := r.open(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx) // on an error, the writers still waiting give up
	defer r.wg.Wait()
	defer cancel()
	for r.left > r.writing {
		pollCtx, cancelPoll := context.WithTimeout(ctx, restoreStall)
		fetches := r.cl.PollFetches(pollCtx)
		cancelPoll()
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			w.log.Warn("changelog fetch error during restore", "partition", errs[0].Partition, "err", errs[0].Err)
		}
		done, err := r.apply(fetches)
		if err != nil {
			return err
		}
		if fetches.NumRecords() == 0 {
			done = append(done, r.invisibleEnds(ctx)...)
		}
		if err := r.finish(ctx, done); err != nil {
			return err
		}
		if err := r.drain(); err != nil {
			return err
		}
		r.logProgress()
	}
	r.closeClient() // nothing more to read
	for ; r.left > 0; r.left-- {
		if err := r.collect(<-r.results); err != nil {
			return err
		}
	}
	return nil
}

// open starts the batches or the loader of each partition and the consumer
// of the changelog tails.
func (r *restorer) open() error {
	offsets := map[int32]kgo.Offset{}
	for _, p := range slices.Sorted(maps.Keys(r.todo)) {
		rp := r.todo[p]
		offsets[p] = kgo.NewOffset().At(rp.from)
		r.w.log.Info("restoring partition state from the changelog", "partition", p, "from", rp.from, "to", rp.to,
			"records", rp.to-rp.from, "bulk", rp.bulk, "empty", rp.empty)
		rp.report(r.w.restoring)
		if rp.bulk && r.loader == nil {
			var err error
			if r.loader, err = r.w.store.NewLoader(); err != nil {
				return err
			}
		}
		switch {
		case !rp.bulk:
			rp.b = r.w.store.NewBatch()
		case !rp.empty:
			r.loader.Onto(p)
		}
	}
	var err error
	r.cl, err = kafkaconn.NewClient(r.w.cfg.Brokers, r.w.cfg.KafkaOpts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(restoreFetchBytes),
		kgo.WithLogger(kafkalog.New(r.w.log)),
	)
	return err
}

// closeClient closes the consumer, once.
func (r *restorer) closeClient() {
	if r.cl != nil {
		r.cl.Close()
		r.cl = nil
	}
}

// close releases what open made (after the background writers are done).
func (r *restorer) close() {
	r.closeClient()
	for _, rp := range r.todo {
		if rp.b != nil {
			rp.b.Discard()
		}
	}
	if r.loader != nil {
		r.loader.Close()
	}
}

// apply applies fetched records and returns the partitions they completed.
func (r *restorer) apply(fetches kgo.Fetches) ([]int32, error) {
	var err error
	var done []int32
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		rp := r.todo[fp.Partition]
		if err != nil || rp == nil || rp.next >= rp.to {
			return
		}
		if err = r.w.replayRecords(rp, r.loader, fp.Records); err != nil {
			return
		}
		rp.report(r.w.restoring)
		if rp.next >= rp.to {
			done = append(done, rp.p)
		}
	})
	return done, err
}

// invisibleEnds returns the partitions whose rest is invisible to the
// consumer, after a poll that brought nothing: they may end in offsets that
// a read_committed consumer skips without a word (aborted transactions,
// compacted batches). A partition is done when its position reaches the
// end, not when a record at the end's offset arrives.
func (r *restorer) invisibleEnds(ctx context.Context) []int32 {
	var done []int32
	for _, p := range slices.Sorted(maps.Keys(r.todo)) {
		rp := r.todo[p]
		if rp.next >= rp.to {
			continue
		}
		atEnd, known := rp.probe.reaches(rp.next, rp.to)
		if !known {
			next, err := skipInvisible(ctx, r.w.kcl, topics.Changelog, p, rp.next, rp.to)
			if err != nil {
				r.w.log.Warn("cannot look ahead in the changelog during restore", "partition", p, "offset", rp.next, "err", err)
				continue
			}
			rp.probe = probeMemo{from: rp.next, next: next, valid: true}
			atEnd = next >= rp.to
		}
		if atEnd {
			r.w.log.Info("the rest of the changelog is invisible to read_committed readers (aborted or compacted)",
				"partition", p, "from", rp.next, "to", rp.to)
			rp.next = rp.to
			rp.report(r.w.restoring)
			done = append(done, p)
		}
	}
	return done
}

// finish stops reading the partitions done and writes them out: in place
// for batches, in the background for bulk loads.
func (r *restorer) finish(ctx context.Context, done []int32) error {
	if len(done) > 0 {
		r.cl.RemoveConsumePartitions(map[string][]int32{topics.Changelog: done})
	}
	for _, p := range done {
		rp := r.todo[p]
		if !rp.bulk {
			tk, err := r.w.finishReplay(ctx, rp, r.loader, r.start)
			if err := r.collect(finished{p, tk, err}); err != nil {
				return err
			}
			r.left--
			continue
		}
		r.writing++
		r.wg.Go(func() {
			r.slots <- struct{}{}
			defer func() { <-r.slots }()
			if err := ctx.Err(); err != nil {
				r.results <- finished{p, nil, err}
				return
			}
			tk, err := r.w.finishReplay(ctx, rp, r.loader, r.start)
			r.results <- finished{p, tk, err}
		})
	}
	return nil
}

// drain collects the background writes that are done.
func (r *restorer) drain() error {
	for {
		select {
		case f := <-r.results:
			r.writing--
			r.left--
			if err := r.collect(f); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// collect loads a finished partition's task.
func (r *restorer) collect(f finished) error {
	if f.err != nil {
		return fmt.Errorf("restoring partition %d: %w", f.p, f.err)
	}
	r.tasks[f.p] = f.tk
	r.w.restoring.done(f.p)
	return nil
}

// logProgress logs each unfinished partition's progress every 5 seconds.
func (r *restorer) logProgress() {
	if time.Since(r.lastLog) <= 5*time.Second {
		return
	}
	for _, p := range slices.Sorted(maps.Keys(r.todo)) {
		if rp := r.todo[p]; rp.next < rp.to {
			rate := float64(rp.next-rp.from) / time.Since(r.start).Seconds()
			r.w.log.Info("restore progress", "partition", p, "done", rp.next-rp.from, "total", rp.to-rp.from,
				"records_per_s", int64(rate), "eta", (time.Duration(float64(rp.to-rp.next)/max(rate, 1)) * time.Second).Round(time.Second))
		}
	}
	r.lastLog = time.Now()
}
