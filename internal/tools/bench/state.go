package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/tools/loadgen"
)

// stateWindows returns the windows the built state is spread over: the
// windows of ten minutes of every size (10 of 1m, 2 of 5m, 1 of 10m),
// starting an hour ahead so that none closes while it is measured.
func stateWindows(now time.Time) []window.Window {
	p := policy()
	start := window.Of(now.Add(time.Hour).UnixMilli(), p.Largest()).Start
	var out []window.Window
	for _, s := range p.Sizes {
		for t := start; t < start+p.Largest(); t += s.Millis {
			out = append(out, window.Window{Size: s.Millis, Start: t})
		}
	}
	return out
}

// buildState writes the changelog of a state of n distinct (video, window)
// keys, as workers would have written it: key j is video j/len(windows) in
// window j%len(windows), in the changelog partition the video's likes are
// counted in, with a count of 1 to 100. It returns how long it took.
func buildState(ctx context.Context, c *cluster, n int, o Options) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.DefaultProduceTopic(topics.Changelog),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(200000),
		kgo.WithLogger(kafkalog.New(o.Logger)))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var failed atomic.Int64
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	wins := stateWindows(time.Now())
	parts := c.layout[topics.Partitioned]
	start := time.Now()
	var id []byte
	var p int32
	for j := range n {
		w := wins[j%len(wins)]
		if j%len(wins) == 0 {
			id = []byte(loadgen.VideoID(j / len(wins)))
			p = partition.ForKey(id, parts)
		}
		key := store.ChangelogKey(store.CountKey(nil, p, w, id))
		cl.Produce(ctx, &kgo.Record{Partition: p, Key: key, Value: store.EncodeUint64(uint64(1 + j%100))}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("building state: %d changelog records not acknowledged", f)
	}
	return time.Since(start), nil
}
