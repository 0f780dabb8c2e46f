package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/counter-dev/counter/internal/topics"
	"github.com/counter-dev/counter/internal/worker"
)

// benchGroup is the consumer group of the workers a scenario starts.
const benchGroup = "counter-bench"

// workerSet is a set of workers running in this process.
type workerSet struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers []*worker.Worker
	metrics []*worker.Metrics
	mu      sync.Mutex
	err     error // first failure of a worker
}

// startWorkers starts n workers against c, each with an empty state
// directory, in one consumer group, committing every commitInterval
// (worker.DefaultCommitInterval if zero).
func startWorkers(ctx context.Context, c *cluster, n int, commitInterval time.Duration, log *slog.Logger) (*workerSet, error) {
	ctx, cancel := context.WithCancel(ctx)
	ws := &workerSet{cancel: cancel}
	for i := range n {
		m := worker.NewMetrics(prometheus.NewRegistry())
		w, err := worker.New(ctx, worker.Config{
			Brokers: c.brokers, Group: benchGroup, ID: fmt.Sprintf("bench-%d", i),
			StateDir: c.path(fmt.Sprintf("worker-%d", i)), Policy: policy(),
			CommitInterval: commitInterval, Logger: log, Metrics: m,
		})
		if err != nil {
			ws.stop()
			return nil, err
		}
		ws.workers = append(ws.workers, w)
		ws.metrics = append(ws.metrics, m)
		ws.wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				ws.mu.Lock()
				ws.err = errors.Join(ws.err, fmt.Errorf("worker %d: %w", i, err))
				ws.mu.Unlock()
			}
		})
	}
	return ws, nil
}

// ready reports whether every worker has joined the group and restored
// the partitions it owns.
func (ws *workerSet) ready() bool {
	for _, w := range ws.workers {
		if !w.Ready() {
			return false
		}
	}
	return true
}

// failed returns the failures of workers so far.
func (ws *workerSet) failed() error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.err
}

// finals returns how many final records the workers produced, in committed
// and aborted transactions alike.
func (ws *workerSet) finals() float64 {
	var n float64
	for _, m := range ws.metrics {
		n += counterValue(m.Finals)
	}
	return n
}

// transactions returns how many transactions the workers committed and
// aborted, and their mean commit time.
func (ws *workerSet) transactions() (committed, aborted float64, meanCommit time.Duration) {
	var sum, n float64
	for _, m := range ws.metrics {
		committed += counterValue(m.Transactions.WithLabelValues("committed"))
		aborted += counterValue(m.Transactions.WithLabelValues("aborted"))
		var h dto.Metric
		if m.CommitSeconds.Write(&h) == nil && h.Histogram != nil {
			sum += h.Histogram.GetSampleSum()
			n += float64(h.Histogram.GetSampleCount())
		}
	}
	if n > 0 {
		meanCommit = time.Duration(sum / n * float64(time.Second))
	}
	return committed, aborted, meanCommit
}

// stop stops the workers (each commits its open transaction) and waits.
func (ws *workerSet) stop() error {
	ws.cancel()
	ws.wg.Wait()
	return ws.failed()
}

func counterValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil || m.Counter == nil {
		return 0
	}
	return m.Counter.GetValue()
}

// settled reports whether the group has committed offsets at the end of
// every partition of the input topics, and no transaction is open on the
// output topics: everything produced so far was consumed and committed.
func settled(ctx context.Context, c *cluster, group string) (bool, error) {
	committed, err := c.adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	for _, t := range []string{topics.Ingestion, topics.Partitioned} {
		ends, err := c.stableEnds(ctx, t)
		if err != nil {
			return false, err
		}
		for p, end := range ends {
			if end == 0 {
				continue
			}
			o, ok := committed.Lookup(t, p)
			if !ok || o.Err != nil || o.At < end {
				return false, nil
			}
		}
	}
	for _, s := range policy().Sizes {
		open, err := openTransactions(ctx, c, topics.Output(s))
		if err != nil || open {
			return false, err
		}
	}
	return true, nil
}

// openTransactions reports whether topic has records of a transaction that
// is neither committed nor aborted (its stable end is before its end).
func openTransactions(ctx context.Context, c *cluster, topic string) (bool, error) {
	stable, err := c.stableEnds(ctx, topic)
	if err != nil {
		return false, err
	}
	ends, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	open := false
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || stable[o.Partition] < o.Offset {
			open = true
		}
	})
	return open, nil
}

// assignment describes which partitions each member of group owns, e.g.
// "bench-0: video_clicks_ingestion [0 1 2] video_clicks_partitioned [3 4 5]".
func assignment(ctx context.Context, c *cluster, group string) []string {
	groups, err := c.adm.DescribeGroups(ctx, group)
	if err != nil {
		return []string{"unknown: " + err.Error()}
	}
	var out []string
	for _, g := range groups.Sorted() {
		for _, m := range g.Members {
			desc := m.ClientID + ":"
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					desc += fmt.Sprintf(" %s %v", t.Topic, t.Partitions)
				}
			}
			out = append(out, desc)
		}
	}
	sort.Strings(out)
	return out
}

// groupStable reports whether group is stable with n members that together
// own every partition of the input topics: no rebalance is under way.
func groupStable(ctx context.Context, c *cluster, group string, n int) (bool, error) {
	groups, err := c.adm.DescribeGroups(ctx, group)
	if err != nil {
		return false, err
	}
	g, ok := groups[group]
	if !ok || g.Err != nil || g.State != "Stable" || len(g.Members) != n {
		return false, nil
	}
	owned := map[string]int{}
	for _, m := range g.Members {
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				owned[t.Topic] += len(t.Partitions)
			}
		}
	}
	for _, t := range []string{topics.Ingestion, topics.Partitioned} {
		if owned[t] != int(c.layout[t]) {
			return false, nil
		}
	}
	return true, nil
}
