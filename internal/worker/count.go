package worker

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/worker/task"
)

// count feeds the likes and watermark marks of partitioned-topic partition
// p to its counting core (package task), in partition order: a like is late
// exactly when a mark before it closed its window. The shell's part is to
// parse the records and to dead-letter what the core or the parsing refuses.
func (w *Worker) count(ctx context.Context, t *txn, p int32, recs []*kgo.Record) error {
	o := w.tasks[p]
	if o == nil {
		if err := w.catchUpEvents(ctx, t); err != nil {
			return err
		}
		if o = w.tasks[p]; o == nil {
			w.log.Warn("records from a partition not owned; aborting the transaction", "partition", p)
			t.doomed = true
			return nil
		}
	}
	t.touch(o)
	sizes := len(w.cfg.Policy.Sizes)
	for _, r := range recs {
		if r.Attrs.IsControl() {
			continue
		}
		if mark, ok := markOf(r); ok {
			m, err := record.ParseMark(mark)
			if err != nil {
				w.log.Warn("ignoring a bad watermark mark", "partition", p, "offset", r.Offset, "err", err)
				continue
			}
			o.core.Mark(m)
			continue
		}
		if err := videoid.Validate(r.Value); err != nil { // only foreign producers can cause this
			w.deadLetter(t, r, string(videoid.ReasonOf(err)), err.Error())
			continue
		}
		n, err := likesOf(r)
		if err != nil { // only foreign producers can cause this
			w.deadLetter(t, r, record.ReasonBadCount, err.Error())
			continue
		}
		like := task.Like{Video: r.Value, N: n, Time: r.Timestamp.UnixMilli()}
		if key, seqb, ok := idempotencyOf(r.Headers); ok {
			seq, err := record.ParseIdempotency(key, seqb)
			if err != nil { // only foreign producers can cause this
				w.deadLetter(t, r, record.ReasonBadIdempotency, err.Error())
				continue
			}
			like.Key, like.Seq = key, seq
		}
		v, err := o.core.Like(like)
		if err != nil {
			return err
		}
		if v.Duplicate {
			w.m.Duplicates.Inc()
			continue
		}
		if len(v.Late) > 0 {
			labels := make([]string, len(v.Late))
			for i, s := range v.Late {
				labels[i] = s.Label
				w.m.Late.WithLabelValues(s.Label).Add(float64(n))
			}
			late := strings.Join(labels, ",")
			w.deadLetter(t, r, record.ReasonLate, fmt.Sprintf("window(s) %s closed before this like arrived (watermark %s)",
				late, record.AppendTime(nil, o.core.OpenWatermark())),
				kgo.RecordHeader{Key: record.LateWindowsHeader, Value: []byte(late)})
		}
		if v.Counted(sizes) {
			w.m.Counted.Add(float64(n))
		}
	}
	return nil
}

// likesOf returns how many likes record r stands for (see
// record.LikesHeader).
func likesOf(r *kgo.Record) (uint64, error) {
	for _, h := range r.Headers {
		if h.Key == record.LikesHeader {
			return record.ParseLikes(h.Value)
		}
	}
	return 1, nil
}

func markOf(r *kgo.Record) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == record.MarkHeader {
			return h.Value, true
		}
	}
	return nil, false
}

// finish hands every partition the transaction touched to its core, which
// reports what its changes imply (see fx): final counts of the windows the
// new watermark closes, running counts, changelog records, tombstones.
func (w *Worker) finish(t *txn) error {
	now := time.Now().UnixMilli()
	for _, o := range t.touched {
		if err := o.core.Finish(now, effects{w: w, t: t, p: o.core.Partition()}); err != nil {
			return err
		}
	}
	return nil
}

// effects turns what a core reports into the records of transaction t.
type effects struct {
	w *Worker
	t *txn
	p int32
}

func (fx effects) Output(win window.Window, id string, count uint64, final bool) {
	fx.w.output(fx.t, win, id, count, final)
}

func (fx effects) Closed(win window.Window) {
	fx.w.m.WindowsClosed.WithLabelValues(fx.w.label(win)).Inc()
}

func (fx effects) Count(win window.Window, id string, count uint64, gone bool) {
	fx.w.changelogCount(fx.t, fx.p, win, id, count, gone)
}

func (fx effects) Keys(n int64) {
	fx.w.changelog(fx.t, fx.p, store.KeyCountKey(fx.p), store.EncodeInt64(n))
}

func (fx effects) Mark(source int32, m watermark.Mark) {
	fx.w.changelog(fx.t, fx.p, store.WatermarkKey(fx.p, source), store.EncodeSourceMark(m))
}

func (fx effects) Dedup(id string, d record.Dedup, gone bool) {
	var val []byte
	if !gone {
		val = store.EncodeDedup(d)
	}
	fx.w.changelog(fx.t, fx.p, []byte(id), val)
}

func (w *Worker) label(win window.Window) string {
	if s, ok := w.sizes[win.Size]; ok {
		return s.label
	}
	return window.NewSize(win.Size).Label
}

// output produces one aggregation record.
func (w *Worker) output(t *txn, win window.Window, id string, c uint64, final bool) {
	s, ok := w.sizes[win.Size]
	if !ok {
		// State of a window size no longer configured: it has no output
		// topic; its counts are dropped with its state.
		return
	}
	bounds, ok := t.bounds[win]
	if !ok {
		bounds = record.AppendBounds(nil, win.Start, win.End())
		t.bounds[win] = bounds
	}
	var scratch [256]byte
	val := t.value(record.AppendAggregationWith(scratch[:0], s.label, id, c, bounds, final))
	key := t.valueString(id)
	rec := t.record()
	rec.Topic, rec.Partition, rec.Key, rec.Value = s.topic, partition.ForKey(key, s.partitions), key, val
	w.sess.Produce(context.Background(), rec, t.sent)
	if final {
		w.m.Finals.Inc()
	} else {
		w.m.Updates.Inc()
	}
}

// changelog produces one changelog record; a nil value is a tombstone.
func (w *Worker) changelog(t *txn, p int32, stateKey, value []byte) {
	rec := t.record()
	rec.Topic, rec.Partition, rec.Key = topics.Changelog, p, t.value(store.ChangelogKey(stateKey))
	if value != nil {
		rec.Value = t.value(value)
	}
	w.sess.Produce(context.Background(), rec, t.sentChangelog)
}

// changelogCount produces the changelog record of the count of id in window
// win of partition p: c, or a tombstone.
func (w *Worker) changelogCount(t *txn, p int32, win window.Window, id string, c uint64, tombstone bool) {
	w.key = store.CountKey(w.key[:0], p, win, nil)
	w.key = append(w.key, id...)
	rec := t.record()
	rec.Topic, rec.Partition, rec.Key = topics.Changelog, p, t.value(store.ChangelogKey(w.key))
	if !tombstone {
		rec.Value = t.value(binary.BigEndian.AppendUint64(w.key[:0], c))
	}
	w.sess.Produce(context.Background(), rec, t.sentChangelog)
}

// apply makes a committed transaction the committed state: each touched
// core commits its changes, and the store gets them with the changelog
// position in one batch (counts at the next checkpoint: see pending.go).
func (w *Worker) apply(t *txn) error {
	b := w.store.NewBatch()
	for p, o := range t.touched {
		c := o.core.Commit()
		for win, changed := range c.Counts {
			w.deferCounts(p, win, changed) // written at the next checkpoint: see pending.go
		}
		for s, m := range c.Marks {
			b.Set(store.WatermarkKey(p, s), store.EncodeSourceMark(m))
		}
		for _, win := range c.Expired {
			b.DeleteWindow(p, win)
			w.dropPendingWindow(p, win)
		}
		for id, d := range c.Dedup {
			b.Set([]byte(id), store.EncodeDedup(d))
		}
		for _, id := range c.DedupGone {
			b.Delete([]byte(id))
		}
		pt := w.pendingFor(p)
		pt.keys += c.KeysDelta // written with the counts
		if end, ok := t.changelogEnd[p]; ok {
			pt.next = end + 1
		}
		if w.tasks[p] != o {
			// Revoked after the commit: no checkpoint will come for p.
			if err := w.writePending(b, p); err != nil {
				b.Discard()
				return err
			}
			continue
		}
		w.stateKeys += c.KeysDelta
		for win, changed := range c.Counts {
			w.cacheCommitted(o, win, changed, c.Created[win])
		}
		for _, win := range c.Expired {
			w.uncache(o, win)
		}
	}
	if t.demoTick > 0 {
		b.Set(store.DemoKey(0), store.EncodeInt64(t.demoTick))
		if o := w.tasks[0]; o != nil {
			o.demoTick = t.demoTick
		}
	}
	if w.checkpointDue() {
		for p := range w.pending {
			if err := w.writePending(b, p); err != nil {
				b.Discard()
				return err
			}
		}
		w.checkpointed = time.Now()
		w.m.Checkpoints.Inc()
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("writing committed state: %w", err)
	}
	w.trimCache()
	w.m.StateKeys.Set(float64(w.stateKeys))
	w.m.CachedKeys.Set(float64(w.cachedKeys))
	for p, st := range t.sources {
		src := w.sources[p]
		if src == nil {
			continue
		}
		src.pos = max(src.pos, st.pos)
		src.maxTs = max(src.maxTs, st.maxTs)
		src.sent = max(src.sent, st.sent)
	}
	return nil
}
