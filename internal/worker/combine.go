package worker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// combiner gathers the likes that one transaction re-keys, so that one record
// of the partitioned topic carries every like of a video that falls into the
// same windows (record.LikesHeader). Likes fall into the same window of every
// size exactly when they fall into the same step: the greatest common divisor
// of the sizes (window.Policy.Step), since every window boundary is a
// multiple of it.
//
// Combining within a transaction keeps the counting stage's results: the
// combined record reaches its partition after every mark its likes' sources
// sent before (earlier transactions) and before every mark they send after
// (tick sends marks once the combined records are produced), which is a
// possible order of the single likes too; and which windows a like counts
// in, or is late for, depends only on its step.
type combiner struct {
	step    int64
	buckets map[int64]map[string]int // step start -> video id -> index in likes
	likes   []combinedLikes

	// The bucket of the last like: consecutive likes mostly share it.
	lastStart int64
	last      map[string]int
}

// combinedLikes are the likes of one video in one step.
type combinedLikes struct {
	id []byte
	n  uint64
	ts int64 // latest timestamp, Unix ms
}

func newCombiner(step int64) *combiner {
	return &combiner{step: step, buckets: map[int64]map[string]int{}}
}

// add records one like of video id at ts (Unix ms). copyID returns a copy of
// the id that stays valid until the likes are produced.
func (c *combiner) add(id []byte, ts int64, copyID func([]byte) []byte) {
	start := window.Of(ts, c.step).Start
	if c.last == nil || start != c.lastStart {
		c.lastStart = start
		c.last = c.buckets[start]
		if c.last == nil {
			c.last = map[string]int{}
			c.buckets[start] = c.last
		}
	}
	if i, ok := c.last[string(id)]; ok {
		l := &c.likes[i]
		l.n++
		l.ts = max(l.ts, ts)
		return
	}
	c.last[string(id)] = len(c.likes)
	c.likes = append(c.likes, combinedLikes{id: copyID(id), n: 1, ts: ts})
}

// flushCombined counts the likes the transaction combined whose partition
// this worker owns (countHere) and produces the others into the partitioned
// topic: one record per video and step, in the order of their first like.
func (w *Worker) flushCombined(ctx context.Context, t *txn) error {
	c := t.combined
	if c == nil || len(c.likes) == 0 {
		return nil
	}
	nPart := w.layout[topics.Partitioned]
	multi := 0
	for _, l := range c.likes {
		if l.n > 1 {
			multi++
		}
	}
	// One allocation for the headers of all records; each record gets a
	// slice of its own (capacity 1) so that none can grow into the next.
	headers := make([]kgo.RecordHeader, multi)
	produced := 0
	for _, l := range c.likes {
		q := partition.ForKey(l.id, nPart)
		if o := w.tasks[q]; o != nil {
			counted, err := w.countHere(t, o, l)
			if err != nil {
				return err
			}
			if counted {
				continue
			}
		}
		produced++
		r := t.record()
		r.Topic, r.Partition, r.Key, r.Value, r.Timestamp = topics.Partitioned, q, l.id, l.id, time.UnixMilli(l.ts)
		if l.n > 1 {
			var scratch [20]byte
			headers[0] = kgo.RecordHeader{Key: record.LikesHeader, Value: t.value(record.AppendLikes(scratch[:0], l.n))}
			r.Headers, headers = headers[:1:1], headers[1:]
		}
		w.sess.Produce(ctx, r, t.sent)
	}
	w.m.RekeyRecords.Add(float64(produced))
	t.combined = nil
	return nil
}

// countHere counts likes l straight into task tk, which this worker owns,
// instead of sending them through the partitioned topic: they are counted in
// the transaction that read them, which saves their round trip through the
// broker and one commit interval of latency. It declines (and the likes go
// through the topic, where the counting stage dead-letters them) when one of
// their windows has already closed.
//
// Counting here is a possible order of the topic too: the likes come after
// every mark their source sent before (those marks may still be unread by
// tk, which only makes tk's watermark lower, never a like late that would
// not be), and before the marks their source sends at the end of this
// transaction.
func (w *Worker) countHere(t *txn, o *owned, l combinedLikes) (bool, error) {
	t.touch(o)
	counted, err := o.core.CountHere(l.id, l.n, l.ts)
	if counted {
		w.m.Counted.Add(float64(l.n))
		w.m.CountedHere.Add(float64(l.n))
	}
	return counted, err
}
