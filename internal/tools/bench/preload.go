package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/tools/loadgen"
)

// backlog is a set of likes written to the ingestion topic before the
// workers start, as after downtime.
type backlog struct {
	events int
	keyed  bool // keyed by video id (the API) or unkeyed (original producers)
	// idempotent gives each like its own Idempotency-Key (index 0), as
	// the API does for a single like sent with one.
	idempotent bool
	ids        [][]byte
	dist       loadgen.Distribution
	span       time.Duration // event times cover [end-span, end)
	// finals is the number of distinct (video, window) pairs per window
	// label: how many final:true records the pipeline must produce.
	finals map[string]int64
	// exact makes preload fill counts.
	exact bool
	// counts is, when exact, the number of likes of every (video, window),
	// by finalKey: what each final:true record must hold.
	counts map[string]int64
}

// backlogEnd returns the end of the event times of a backlog produced now:
// aligned to the largest window and a grace period in the past, so that
// every window of the backlog can close as soon as the workers have read
// everything.
func backlogEnd(now time.Time) int64 {
	p := policy()
	return window.Of(now.UnixMilli()-p.Grace-1000, p.Largest()).Start
}

// preload produces the backlog into the ingestion topic: like i of n is
// stamped end-span + i*span/n, so event times rise within every partition
// (as in a log that was written live) and no like is late. It fills
// b.finals and returns how long producing took.
func preload(ctx context.Context, c *cluster, b *backlog, o Options) (time.Duration, error) {
	pick, err := loadgen.NewPicker(b.dist, len(b.ids), 1)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.DefaultProduceTopic(topics.Ingestion),
		kgo.MaxBufferedRecords(200000), kgo.WithLogger(kafkalog.New(o.Logger)))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var failed atomic.Int64
	var firstErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	pol := policy()
	end := backlogEnd(time.Now())
	start := end - b.span.Milliseconds()
	tally := newFinalTally(pol, len(b.ids))
	if b.exact {
		tally.counts = map[string]int64{}
		tally.ids = b.ids
	}
	began := time.Now()
	var slab []kgo.Record
	seq0 := []byte("0")
	for i := range b.events {
		if len(slab) == 0 {
			slab = make([]kgo.Record, 4096)
		}
		ts := start + int64(float64(i)*float64(b.span.Milliseconds())/float64(b.events))
		v := pick.Next()
		tally.add(v, ts)
		r := &slab[0]
		slab = slab[1:]
		r.Value, r.Timestamp = b.ids[v], time.UnixMilli(ts)
		if b.keyed {
			r.Key = r.Value
		}
		if b.idempotent {
			r.Headers = []kgo.RecordHeader{
				{Key: record.IdempotencyKeyHeader, Value: strconv.AppendInt(nil, int64(i), 36)},
				{Key: record.SeqHeader, Value: seq0},
			}
		}
		cl.Produce(ctx, r, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("preload: %d likes not acknowledged: %v", n, firstErr.Load())
	}
	b.finals, b.counts = tally.done(), tally.counts
	return time.Since(began), nil
}

// finalTally counts distinct (video, window) pairs of likes given in
// event-time order, per window size; with counts set, also the likes of
// every (video, window).
type finalTally struct {
	sizes  []window.Size
	cur    []int64  // current window start per size
	seen   [][]bool // videos seen in the current window, per size
	n      []int64  // distinct videos in the current window, per size
	finals map[string]int64
	counts map[string]int64 // likes per finalKey, when not nil
	ids    [][]byte         // video ids by index, for counts
}

// finalKey names a (video, window) of the given window label.
func finalKey(label, video string, start int64) string {
	return label + "/" + video + "/" + strconv.FormatInt(start, 10)
}

func newFinalTally(p window.Policy, videos int) *finalTally {
	t := &finalTally{sizes: p.Sizes, finals: map[string]int64{}}
	for range p.Sizes {
		t.cur = append(t.cur, 0)
		t.seen = append(t.seen, make([]bool, videos))
		t.n = append(t.n, 0)
	}
	return t
}

func (t *finalTally) add(video int, ts int64) {
	for i, s := range t.sizes {
		if w := window.Of(ts, s.Millis).Start; w != t.cur[i] {
			t.close(i)
			t.cur[i] = w
		}
		if !t.seen[i][video] {
			t.seen[i][video] = true
			t.n[i]++
		}
		if t.counts != nil {
			t.counts[finalKey(s.Label, string(t.ids[video]), t.cur[i])]++
		}
	}
}

func (t *finalTally) close(i int) {
	t.finals[t.sizes[i].Label] += t.n[i]
	t.n[i] = 0
	clear(t.seen[i])
}

func (t *finalTally) done() map[string]int64 {
	for i := range t.sizes {
		t.close(i)
	}
	return t.finals
}
