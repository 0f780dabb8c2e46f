package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/worker/deadletter"
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
		key, seq, idempotent := idempotencyOf(r.Headers)
		if idempotent {
			if _, err := record.ParseIdempotency(key, seq); err != nil {
				w.deadLetter(t, r, record.ReasonBadIdempotency, err.Error())
				continue
			}
			src := refOf(r)
			if f := w.refused[src]; f.forward != nil {
				t.used = append(t.used, src)
				w.deadLetter(t, r, record.ReasonProduceError, f.forward.Error())
				continue
			}
		}
		st.maxTs = max(st.maxTs, ts)
		w.m.Rekeyed.Inc()
		if !idempotent {
			// Other headers are not forwarded: they would be read as
			// this pipeline's own (counter.likes, counter.watermark).
			if t.combined == nil {
				t.combined = newCombiner(w.cfg.Policy.Step())
			}
			t.combined.add(r.Value, ts, t.value)
			continue
		}
		// Likes with an Idempotency-Key go on one by one, with the key and
		// their index, and nothing else.
		id := t.value(r.Value)
		rec := t.record()
		rec.Topic, rec.Partition, rec.Key, rec.Value, rec.Timestamp = topics.Partitioned, partition.ForKey(id, nPart), id, id, r.Timestamp
		rec.Headers = idempotencyHeaders(r.Headers, key, seq)
		w.sess.Produce(ctx, rec, t.sentFrom(refOf(r), false))
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

// idempotencyOf returns the values of a like's idempotency headers; ok is
// false without an IdempotencyKeyHeader.
func idempotencyOf(headers []kgo.RecordHeader) (key, seq []byte, ok bool) {
	for _, h := range headers {
		switch h.Key {
		case record.IdempotencyKeyHeader:
			key, ok = h.Value, true
		case record.SeqHeader:
			seq = h.Value
		}
	}
	return key, seq, ok
}

// idempotencyHeaders returns the headers of a forwarded idempotent like:
// the input's own when they are exactly the key and the index (as the API
// sends them), a new pair otherwise.
func idempotencyHeaders(in []kgo.RecordHeader, key, seq []byte) []kgo.RecordHeader {
	if len(in) == 2 && in[0].Key == record.IdempotencyKeyHeader && in[1].Key == record.SeqHeader {
		return in
	}
	return []kgo.RecordHeader{{Key: record.IdempotencyKeyHeader, Value: key}, {Key: record.SeqHeader, Value: seq}}
}

// deadLetter sends the copy of r to the dead-letter topic with the reason,
// cut to a bounded size (package deadletter). If the broker has refused
// that dead letter for good already, r is skipped instead, with a metric
// and a log line once the transaction commits: no record can wedge its
// partition.
func (w *Worker) deadLetter(t *txn, r *kgo.Record, reason, detail string, extra ...kgo.RecordHeader) {
	src := refOf(r)
	if f := w.refused[src]; f.deadLetter != nil {
		t.used = append(t.used, src)
		t.skipped = append(t.skipped, skip{src: src, reason: reason, valueBytes: len(r.Value), err: f.deadLetter})
		return
	}
	dl := deadletter.Of(r, reason, detail, extra...)
	dl.Topic, dl.Partition = topics.DeadLetter, r.Partition%w.layout[topics.DeadLetter]
	if dl.Key != nil {
		dl.Key = t.value(dl.Key)
	}
	if dl.Value != nil {
		dl.Value = t.value(dl.Value)
	}
	w.sess.Produce(context.Background(), dl, t.sentFrom(src, true))
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
		mark := record.AppendMark(nil, watermark.Mark{Source: p, Sources: nSources, Watermark: wm})
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
	o := w.tasks[0]
	if w.cfg.DemoInterval <= 0 || o == nil {
		return nil
	}
	k := time.Now().UnixMilli() / w.cfg.DemoInterval.Milliseconds()
	if k <= o.demoTick {
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
