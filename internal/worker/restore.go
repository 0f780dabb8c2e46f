package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafkalog"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/topics"
	"github.com/counter-dev/counter/internal/watermark"
	"github.com/counter-dev/counter/internal/window"
)

// restoreBatch is how many changelog records go into one store batch.
const restoreBatch = 10000

// restore brings the local state of partition p up to date with its
// changelog and loads the task. The store knows which changelog offset it
// reflects, so only the tail is replayed; a store that is ahead of the
// changelog (the topic was recreated) is wiped and rebuilt.
func (w *Worker) restore(ctx context.Context, p int32) (*task, error) {
	start := time.Now()
	next, err := w.store.ChangelogNext(p)
	if err != nil {
		return nil, err
	}
	ends, err := w.adm.ListCommittedOffsets(ctx, topics.Changelog)
	if err != nil {
		return nil, err
	}
	starts, err := w.adm.ListStartOffsets(ctx, topics.Changelog)
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
	replayed := int64(0)
	if next < end.Offset {
		if replayed, err = w.replay(ctx, p, next, end.Offset); err != nil {
			return nil, err
		}
	}
	return w.loadTask(p, replayed, time.Since(start))
}

// replay applies changelog records [from, to) of partition p to the store.
func (w *Worker) replay(ctx context.Context, p int32, from, to int64) (int64, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.WithLogger(kafkalog.New(w.log)),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	w.log.Info("restoring partition state from the changelog", "partition", p, "from", from, "to", to, "records", to-from)
	b := w.store.NewBatch()
	defer func() { b.Discard() }()
	var n int64
	next := from
	began, lastLog := time.Now(), time.Now()
	remaining := w.m.RestoreRemaining.WithLabelValues(strconv.Itoa(int(p)))
	remaining.Set(float64(to - from))
	for next < to {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			w.log.Warn("changelog fetch error during restore", "partition", p, "err", errs[0].Err)
		}
		var applyErr error
		fetches.EachRecord(func(r *kgo.Record) {
			if applyErr != nil || r.Offset >= to {
				return
			}
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			key := store.StateKey(p, r.Key)
			if r.Value == nil {
				applyErr = b.Delete(key)
			} else {
				applyErr = b.Set(key, r.Value)
			}
			n++
		})
		if applyErr != nil {
			return n, applyErr
		}
		if b.Len() >= restoreBatch || next >= to {
			b.SetChangelogNext(p, next)
			if err := b.Commit(); err != nil {
				return n, err
			}
			b = w.store.NewBatch()
		}
		remaining.Set(float64(to - next))
		if time.Since(lastLog) > 5*time.Second {
			done, rate := next-from, float64(next-from)/time.Since(began).Seconds()
			w.log.Info("restore progress", "partition", p, "done", done, "total", to-from,
				"records_per_s", int64(rate), "eta", (time.Duration(float64(to-next)/max(rate, 1)) * time.Second).Round(time.Second))
			lastLog = time.Now()
		}
	}
	remaining.Set(0)
	w.m.Restored.Add(float64(n))
	w.log.Info("restore done", "partition", p, "records", n, "took", time.Since(began).Round(time.Millisecond),
		"records_per_s", int64(float64(n)/max(time.Since(began).Seconds(), 1e-3)))
	return n, nil
}

// loadTask reads the task of partition p from the store.
func (w *Worker) loadTask(p int32, replayed int64, took time.Duration) (*task, error) {
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
	keys, err := w.store.CountKeys(p)
	if err != nil {
		return nil, err
	}
	tk := &task{partition: p, keys: keys, marks: marks, wm: watermark.Combine(marks), windows: map[window.Window]struct{}{}, demoTick: demo}
	for _, win := range wins {
		tk.windows[win] = struct{}{}
	}
	w.log.Info("partition ready", "partition", p, "replayed", replayed, "windows", len(wins), "keys", keys,
		"took", took.Round(time.Millisecond))
	return tk, nil
}
