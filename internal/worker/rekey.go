package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/catalog"
	"github.com/counter-dev/counter/internal/partition"
	"github.com/counter-dev/counter/internal/record"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/topics"
	"github.com/counter-dev/counter/internal/videoid"
	"github.com/counter-dev/counter/internal/watermark"
)

// rekey forwards the likes of ingestion partition p to the partitioned topic,
// keyed by video id, keeping their timestamps: likes without headers are
// combined per video and window step first (see combiner) and produced by
// tick, the others go on one by one. Unusable records go to the dead-letter
// topic.
func (w *Worker) rekey(ctx context.Context, t *txn, p int32, recs []*kgo.Record) error {
	if _, ok := w.sources[p]; !ok {
		if err := w.catchUpEvents(ctx, t); err != nil {
			return err
		}
		if _, ok := w.sources[p]; !ok {
			w.log.Warn("records from an ingestion partition not owned; aborting the transaction", "partition", p)
			t.doomed = true
			return nil
		}
	}
	st := t.source(p)
	future := time.Now().Add(w.cfg.MaxFuture).UnixMilli()
	nPart := w.layout[topics.Partitioned]
	for _, r := range recs {
		st.pos = r.Offset + 1
		if r.Attrs.IsControl() {
			continue
		}
		if err := videoid.Validate(r.Value); err != nil {
			w.deadLetter(t, r, string(videoid.ReasonOf(err)), err.Error())
			continue
		}
		ts := r.Timestamp.UnixMilli()
		if ts > future {
			w.deadLetter(t, r, record.ReasonFuture, fmt.Sprintf("timestamp %s is more than %v ahead of the worker clock",
				r.Timestamp.UTC().Format(time.RFC3339Nano), w.cfg.MaxFuture))
			continue
		}
		st.maxTs = max(st.maxTs, ts)
		w.m.Rekeyed.Inc()
		if len(r.Headers) == 0 {
			if t.combined == nil {
				t.combined = newCombiner(w.cfg.Policy.Step())
			}
			t.combined.add(r.Value, ts, t.value)
			continue
		}
		// Likes with headers (an Idempotency-Key) go on one by one, with
		// their headers.
		id := t.value(r.Value)
		w.sess.Produce(ctx, &kgo.Record{
			Topic:     topics.Partitioned,
			Partition: partition.ForKey(id, nPart),
			Key:       id,
			Value:     id,
			Timestamp: r.Timestamp,
			Headers:   r.Headers, // carries the Idempotency-Key of API likes
		}, t.sent)
		w.m.RekeyRecords.Inc()
	}
	return nil
}

func (t *txn) source(p int32) *sourceTxn {
	st := t.sources[p]
	if st == nil {
		st = &sourceTxn{maxTs: watermark.None, pos: -1, sent: watermark.None}
		t.sources[p] = st
	}
	return st
}

// catchUpEvents applies rebalance events in the middle of a transaction
// (records of a newly assigned partition arrived). A revocation dooms the
// transaction: the session aborts it anyway.
func (w *Worker) catchUpEvents(ctx context.Context, t *txn) error {
	revoked, err := w.applyEvents(ctx)
	if revoked {
		t.doomed = true
	}
	return err
}

// deadLetter copies r unchanged to the dead-letter topic with the reason.
func (w *Worker) deadLetter(t *txn, r *kgo.Record, reason, detail string, extra ...kgo.RecordHeader) {
	headers := append([]kgo.RecordHeader{
		{Key: record.ReasonHeader, Value: []byte(reason)},
		{Key: record.ErrorHeader, Value: []byte(detail)},
		{Key: record.SourceHeader, Value: []byte(r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10))},
	}, extra...)
	dl := &kgo.Record{
		Topic:     topics.DeadLetter,
		Partition: r.Partition % w.layout[topics.DeadLetter],
		Key:       t.value(r.Key),
		Value:     t.value(r.Value),
		Timestamp: r.Timestamp,
		Headers:   append(headers, r.Headers...),
	}
	w.sess.Produce(context.Background(), dl, t.sent)
	w.m.DeadLettered.WithLabelValues(reason).Inc()
}

// tick ends a commit interval: sources send watermark marks where one can
// close a window, and the owner of partition 0 sends the demo like when due.
func (w *Worker) tick(ctx context.Context, t *txn) error {
	if err := w.flushCombined(ctx, t); err != nil { // before the marks, which must follow these likes
		return err
	}
	now := time.Now().UnixMilli()
	pol := w.cfg.Policy
	wms := make(map[int32]int64, len(w.sources))
	var check []int32
	for p, src := range w.sources {
		maxTs := src.maxTs
		if st := t.sources[p]; st != nil {
			maxTs = max(maxTs, st.maxTs)
		}
		wms[p] = watermark.Source(src.sent, maxTs, now)
		if watermark.NeedsCaughtUpCheck(pol, wms[p], now) {
			check = append(check, p)
		}
	}
	if len(check) > 0 {
		at, caught, err := w.caughtUp(ctx, t, check)
		if err != nil {
			w.log.Warn("cannot check whether sources are caught up", "err", err)
		}
		for _, p := range caught {
			wms[p] = max(wms[p], at)
		}
	}
	nSources, nPart := w.layout[topics.Ingestion], w.layout[topics.Partitioned]
	for p, wm := range wms {
		if !watermark.ShouldSend(pol, w.sources[p].sent, wm) {
			continue
		}
		if err := w.begin(t); err != nil {
			return err
		}
		mark := record.AppendMark(nil, record.Mark{Source: p, Sources: nSources, Watermark: wm})
		for q := int32(0); q < nPart; q++ {
			w.sess.Produce(ctx, &kgo.Record{
				Topic:     topics.Partitioned,
				Partition: q,
				Headers:   []kgo.RecordHeader{{Key: record.MarkHeader, Value: mark}},
			}, t.sent)
		}
		t.source(p).sent = wm
		w.m.Marks.Add(float64(nPart))
	}
	return w.demo(ctx, t)
}

// caughtUp returns which of the given sources have nothing left to read,
// and the time just before that was checked.
func (w *Worker) caughtUp(ctx context.Context, t *txn, parts []int32) (at int64, caught []int32, err error) {
	at = time.Now().UnixMilli()
	ends, err := w.adm.ListCommittedOffsets(ctx, topics.Ingestion)
	if err != nil {
		return at, nil, err
	}
	var committed kadm.OffsetResponses
	for _, p := range parts {
		pos := w.sources[p].pos
		if st := t.sources[p]; st != nil && st.pos >= 0 {
			pos = st.pos
		}
		if pos < 0 {
			// Nothing read since the assignment: the group's committed
			// offset is the position, or the log start if none.
			if committed == nil {
				if committed, err = w.groupPositions(ctx); err != nil {
					return at, caught, err
				}
			}
			if c, ok := committed.Lookup(topics.Ingestion, p); ok && c.Err == nil {
				pos = c.At
			}
		}
		end, ok := ends.Lookup(topics.Ingestion, p)
		if !ok || end.Err != nil || pos < 0 {
			continue
		}
		if pos >= end.Offset || w.skipsToEnd(ctx, p, pos, end.Offset) {
			caught = append(caught, p)
		}
	}
	return at, caught, nil
}

// skipsToEnd reports whether source p, whose position has not moved from
// pos since the last check, has nothing left to deliver before end: its
// last offsets may be ones the consumer skips without a word (an aborted
// transaction, compacted batches), and an idle source must not hold
// windows open because of them.
func (w *Worker) skipsToEnd(ctx context.Context, p int32, pos, end int64) bool {
	if w.sourceStood == nil {
		w.sourceStood, w.sourceProbes = map[int32]int64{}, map[int32]probeMemo{}
	}
	if prev, ok := w.sourceStood[p]; !ok || prev != pos {
		w.sourceStood[p] = pos // moving: look again if it stops here
		return false
	}
	atEnd, known := w.sourceProbes[p].reaches(pos, end)
	if known {
		return atEnd
	}
	next, err := skipInvisible(ctx, w.kcl, topics.Ingestion, p, pos, end)
	if err != nil {
		w.log.Debug("cannot look ahead in a source partition", "partition", p, "offset", pos, "err", err)
		return false
	}
	w.sourceProbes[p] = probeMemo{from: pos, next: next, valid: true}
	return next >= end
}

// groupPositions returns the group's committed offsets, with partitions that
// have none set to the log start (where consumption begins).
func (w *Worker) groupPositions(ctx context.Context) (kadm.OffsetResponses, error) {
	committed, err := w.adm.FetchOffsets(ctx, w.cfg.Group)
	if err != nil {
		return nil, err
	}
	starts, err := w.adm.ListStartOffsets(ctx, topics.Ingestion)
	if err != nil {
		return nil, err
	}
	starts.Each(func(o kadm.ListedOffset) {
		if _, ok := committed.Lookup(o.Topic, o.Partition); !ok && o.Err == nil {
			committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset}})
		}
	})
	return committed, nil
}

// demo sends one like for a demo video every DemoInterval, from the owner of
// partition 0 of the partitioned topic only. Ticks are aligned to the clock
// and the last tick sent is part of partition 0's state (changelogged in the
// same transaction as the like), so a change of owner neither repeats nor
// skips a tick, and a fenced former owner cannot send one too.
func (w *Worker) demo(ctx context.Context, t *txn) error {
	tk := w.tasks[0]
	if w.cfg.DemoInterval <= 0 || tk == nil {
		return nil
	}
	k := time.Now().UnixMilli() / w.cfg.DemoInterval.Milliseconds()
	if k <= tk.demoTick {
		return nil
	}
	if err := w.begin(t); err != nil {
		return err
	}
	id := []byte(catalog.DemoIDs[k%int64(len(catalog.DemoIDs))])
	w.sess.Produce(ctx, &kgo.Record{
		Topic:     topics.Ingestion,
		Partition: partition.ForKey(id, w.layout[topics.Ingestion]),
		Key:       id,
		Value:     id,
	}, t.sent)
	w.changelog(t, 0, store.DemoKey(0), store.EncodeInt64(k))
	t.demoTick = k
	w.m.DemoLikes.Inc()
	return nil
}
