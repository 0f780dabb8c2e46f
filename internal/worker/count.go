package worker

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
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
)

// count adds the likes of partitioned-topic partition p to their windows and
// applies the watermark marks found between them, in partition order: a
// like is late exactly when a mark before it closed its window.
func (w *Worker) count(ctx context.Context, t *txn, p int32, recs []*kgo.Record) error {
	tk := w.tasks[p]
	if tk == nil {
		if err := w.catchUpEvents(ctx, t); err != nil {
			return err
		}
		if tk = w.tasks[p]; tk == nil {
			w.log.Warn("records from a partition not owned; aborting the transaction", "partition", p)
			t.doomed = true
			return nil
		}
	}
	tt := t.task(tk)
	pol := w.cfg.Policy
	var late []string
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
			tt.addMark(tk, m)
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
		ts := r.Timestamp.UnixMilli()
		if key, seqb, ok := idempotencyOf(r.Headers); ok {
			seq, err := record.ParseIdempotency(key, seqb)
			if err != nil { // only foreign producers can cause this
				w.deadLetter(t, r, record.ReasonBadIdempotency, err.Error())
				continue
			}
			if dup, err := w.dedup(tt, p, r.Value, key, seq, ts); err != nil {
				return err
			} else if dup {
				w.m.Duplicates.Inc()
				continue
			}
		}
		late = late[:0]
		for _, size := range pol.Sizes {
			win := window.Of(ts, size.Millis)
			if pol.Closed(win, tt.wm) {
				late = append(late, size.Label)
				w.m.Late.WithLabelValues(size.Label).Add(float64(n))
				continue
			}
			if err := w.increment(tk, tt, win, r.Value, n); err != nil {
				return err
			}
		}
		if len(late) > 0 {
			w.deadLetter(t, r, record.ReasonLate, fmt.Sprintf("window(s) %s closed before this like arrived (watermark %s)",
				strings.Join(late, ","), record.AppendTime(nil, tt.wm)),
				kgo.RecordHeader{Key: "counter.late_windows", Value: []byte(strings.Join(late, ","))})
		}
		if len(late) < len(pol.Sizes) {
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

// dedup reports whether the like of video id with idempotency key and index
// seq was already counted, and otherwise records it as counted.
func (w *Worker) dedup(tt *taskTxn, p int32, id, key []byte, seq int, ts int64) (bool, error) {
	dk := string(store.DedupKey(nil, p, id, key))
	d, ok := tt.dedup[dk]
	if !ok {
		v, found, err := w.store.Get([]byte(dk))
		if err != nil {
			return false, err
		}
		if found {
			if d, ok = store.DecodeDedup(v); !ok {
				return false, fmt.Errorf("corrupt idempotency record %x", dk)
			}
		} else {
			d.First = ts
		}
	}
	if d.Has(seq) {
		return true, nil
	}
	if tt.dedup == nil {
		tt.dedup = map[string]store.Dedup{}
	}
	tt.dedup[dk] = d.With(seq)
	return false, nil
}

// expireDedup deletes the idempotency records of partition p that are
// older than the idempotency window, when the watermark crosses one of 24
// steps of the window (so the scan runs about once an hour by default).
func (w *Worker) expireDedup(t *txn, tk *task, tt *taskTxn) error {
	step := max(w.cfg.IdempotencyWindow.Milliseconds()/24, 1000)
	if tt.wm == watermark.None || (tk.wm != watermark.None && tt.wm/step == tk.wm/step) {
		return nil
	}
	horizon := tt.wm - w.cfg.IdempotencyWindow.Milliseconds()
	lo, hi := store.DedupRange(tk.partition)
	return w.store.Scan(lo, hi, func(k, v []byte) error {
		d, ok := store.DecodeDedup(v)
		if !ok || d.First > horizon {
			return nil
		}
		if _, changed := tt.dedup[string(k)]; changed {
			return nil
		}
		tt.dedupGone = append(tt.dedupGone, string(k))
		w.changelog(t, tk.partition, k, nil)
		return nil
	})
}

func markOf(r *kgo.Record) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == record.MarkHeader {
			return h.Value, true
		}
	}
	return nil, false
}

func (t *txn) task(tk *task) *taskTxn {
	tt := t.tasks[tk.partition]
	if tt == nil {
		tt = &taskTxn{
			marks:  map[int32]watermark.Mark{},
			wm:     tk.wm,
			counts: map[window.Window]map[string]uint64{},
		}
		t.tasks[tk.partition] = tt
	}
	return tt
}

// addMark records a mark; a source's watermark never goes back.
func (tt *taskTxn) addMark(tk *task, m record.Mark) {
	prev, ok := tt.marks[m.Source]
	if !ok {
		prev, ok = tk.marks[m.Source]
	}
	if ok && prev.Watermark >= m.Watermark && prev.Sources >= m.Sources {
		return
	}
	tt.marks[m.Source] = watermark.Mark{Watermark: max(prev.Watermark, m.Watermark), Sources: max(prev.Sources, m.Sources)}
	merged := make(map[int32]watermark.Mark, len(tk.marks)+len(tt.marks))
	for s, m := range tk.marks {
		merged[s] = m
	}
	for s, m := range tt.marks {
		merged[s] = m
	}
	tt.wm = max(tt.wm, watermark.Combine(merged))
}

// increment adds n likes to the count of id in window win.
func (w *Worker) increment(tk *task, tt *taskTxn, win window.Window, id []byte, n uint64) error {
	changed := tt.counts[win]
	if changed == nil {
		changed = map[string]uint64{}
		tt.counts[win] = changed
	}
	if c, ok := changed[string(id)]; ok {
		changed[string(id)] = c + n
		return nil
	}
	c, err := w.committedCount(tk, win, id)
	if err != nil {
		return err
	}
	if c == 0 {
		tt.newKeys++
	}
	changed[string(id)] = c + n
	return nil
}

// finish produces what the transaction's state changes imply: final counts
// of the windows that the new watermark closes, cumulative counts of the
// keys that changed in open windows, changelog records for every change, and
// tombstones for expired windows.
func (w *Worker) finish(t *txn) error {
	for p, tt := range t.tasks {
		if err := w.finishTask(t, w.tasks[p], tt); err != nil {
			return err
		}
	}
	return nil
}

func (w *Worker) finishTask(t *txn, tk *task, tt *taskTxn) error {
	pol := w.cfg.Policy
	now := time.Now().UnixMilli()
	all := make([]window.Window, 0, len(tk.windows)+len(tt.counts))
	for win := range tk.windows {
		all = append(all, win)
	}
	for win := range tt.counts {
		if _, ok := tk.windows[win]; !ok {
			all = append(all, win)
		}
	}
	// Deterministic order: finals come out by window, oldest first.
	sort.Slice(all, func(i, j int) bool {
		if all[i].Start != all[j].Start {
			return all[i].Start < all[j].Start
		}
		return all[i].Size < all[j].Size
	})
	expired := map[window.Window]bool{}
	for _, win := range all {
		closing := pol.Closed(win, tt.wm) && !pol.Closed(win, tk.wm)
		gone := pol.Expired(win, tt.wm)
		if !closing && !gone {
			continue
		}
		err := w.eachCount(tk, tt, win, func(id string, c uint64) {
			if closing {
				w.output(t, win, id, c, true)
			}
			if gone {
				w.changelogCount(t, tk.partition, win, id, 0, true)
				tt.goneKeys++
			}
		})
		if err != nil {
			return err
		}
		if closing {
			w.m.WindowsClosed.WithLabelValues(w.label(win)).Inc()
		}
		if gone {
			expired[win] = true
			tt.expired = append(tt.expired, win)
		}
	}
	for win, changed := range tt.counts {
		if expired[win] {
			continue
		}
		// Updates go out while a window is open, except for windows the
		// wall clock has already closed: a backlog being caught up gets
		// its finals soon, and updates would only multiply the output.
		update := !pol.Closed(win, tt.wm) && !pol.Closed(win, now)
		for id, c := range changed {
			if update {
				w.output(t, win, id, c, false)
			}
			w.changelogCount(t, tk.partition, win, id, c, false)
		}
	}
	if len(tt.counts) > 0 || tt.goneKeys > 0 {
		// The number of counts follows them, so that a replay knows it
		// without reading the store.
		w.changelog(t, tk.partition, store.KeyCountKey(tk.partition), store.EncodeInt64(tk.keys+tt.newKeys-tt.goneKeys))
	}
	for s, m := range tt.marks {
		w.changelog(t, tk.partition, store.WatermarkKey(tk.partition, s), store.EncodeSourceMark(m))
	}
	for k, d := range tt.dedup {
		w.changelog(t, tk.partition, []byte(k), store.EncodeDedup(d))
	}
	return w.expireDedup(t, tk, tt)
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

// apply makes a committed transaction the committed state: the store gets
// the changes and the changelog position in one batch per partition.
func (w *Worker) apply(t *txn) error {
	b := w.store.NewBatch()
	for p, tt := range t.tasks {
		tk := w.tasks[p]
		for win, changed := range tt.counts {
			if !slices.Contains(tt.expired, win) {
				w.deferCounts(p, win, changed) // written at the next checkpoint: see pending.go
			}
		}
		for s, m := range tt.marks {
			b.Set(store.WatermarkKey(p, s), store.EncodeSourceMark(m))
		}
		for _, win := range tt.expired {
			b.DeleteWindow(p, win)
			w.dropPendingWindow(p, win)
		}
		for k, d := range tt.dedup {
			b.Set([]byte(k), store.EncodeDedup(d))
		}
		for _, k := range tt.dedupGone {
			b.Delete([]byte(k))
		}
		pt := w.pendingFor(p)
		pt.keys += tt.newKeys - tt.goneKeys // written with the counts
		if end, ok := t.changelogEnd[p]; ok {
			pt.next = end + 1
		}
		if tk == nil {
			// Revoked after the commit: no checkpoint will come for p.
			if err := w.writePending(b, p); err != nil {
				b.Discard()
				return err
			}
			continue
		}
		for s, m := range tt.marks {
			tk.marks[s] = m
		}
		tk.wm = tt.wm
		tk.keys += tt.newKeys - tt.goneKeys
		w.stateKeys += tt.newKeys - tt.goneKeys
		for win, changed := range tt.counts {
			if slices.Contains(tt.expired, win) {
				continue
			}
			_, stored := tk.windows[win]
			tk.windows[win] = struct{}{}
			w.cacheCommitted(tk, win, changed, !stored)
		}
		for _, win := range tt.expired {
			delete(tk.windows, win)
			w.uncache(tk, win)
		}
	}
	if t.demoTick > 0 {
		b.Set(store.DemoKey(0), store.EncodeInt64(t.demoTick))
		if tk := w.tasks[0]; tk != nil {
			tk.demoTick = t.demoTick
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
