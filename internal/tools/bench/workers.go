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

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/worker"
)

// benchGroup is the consumer group of the workers a scenario starts.
const benchGroup = "counter-bench"

// workerSet is a set of workers running in this process.
type workerSet struct {
	ctx     context.Context // the workers run until it is cancelled
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers []*worker.Worker
	metrics []*worker.Metrics // of every worker started, stopped ones too
	stops   []func()          // stop the worker and wait for it
	mu      sync.Mutex
	err     error // first failure of a worker
}

// startWorkers starts n workers against c, each with an empty state
// directory, in one consumer group, committing every commitInterval
// (worker.DefaultCommitInterval if zero).
func startWorkers(ctx context.Context, c *cluster, n int, commitInterval time.Duration, log *slog.Logger) (*workerSet, error) {
	ws := newWorkerSet(ctx)
	for range n {
		cfg := benchConfig(log)
		if commitInterval > 0 {
			cfg.CommitInterval = commitInterval
		}
		if err := ws.add(c, cfg); err != nil {
			ws.stop()
			return nil, err
		}
	}
	return ws, nil
}

// newWorkerSet returns an empty set whose workers run until ctx is
// cancelled or the set is stopped.
func newWorkerSet(ctx context.Context) *workerSet {
	ctx, cancel := context.WithCancel(ctx)
	return &workerSet{ctx: ctx, cancel: cancel}
}

// benchConfig is the configuration the benchmarks' workers start from: the
// defaults, without standby replicas (the scenarios measure the counting).
func benchConfig(log *slog.Logger) worker.Config {
	cfg := worker.DefaultConfig()
	cfg.StandbyReplicas, cfg.Logger = 0, log
	return cfg
}

// add starts one more worker against c in the set's consumer group. cfg
// gives its settings; the connection, group, window policy and metrics are
// filled in, and, when cfg.ID is empty, the id "bench-<i>" and an empty
// state directory of its own (i counts the workers started).
func (ws *workerSet) add(c *cluster, cfg worker.Config) error {
	i := len(ws.workers)
	m := worker.NewMetrics(prometheus.NewRegistry())
	if cfg.ID == "" {
		cfg.ID, cfg.StateDir = fmt.Sprintf("bench-%d", i), c.path(fmt.Sprintf("worker-%d", i))
	}
	cfg.Brokers, cfg.Group, cfg.Policy, cfg.Metrics = c.brokers, benchGroup, policy(), m
	ctx, cancel := context.WithCancel(ws.ctx)
	w, err := worker.New(ctx, cfg)
	if err != nil {
		cancel()
		return err
	}
	done := make(chan struct{})
	ws.workers = append(ws.workers, w)
	ws.metrics = append(ws.metrics, m)
	ws.stops = append(ws.stops, func() { cancel(); <-done })
	ws.wg.Go(func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			ws.mu.Lock()
			ws.err = errors.Join(ws.err, fmt.Errorf("worker %s: %w", cfg.ID, err))
			ws.mu.Unlock()
		}
	})
	return nil
}

// stopWorker stops the i-th worker started (it commits its open
// transaction and leaves the group) and waits until it has.
func (ws *workerSet) stopWorker(i int) error {
	ws.stops[i]()
	return ws.failed()
}

// ready reports whether every worker started has joined the group and
// restored the partitions it owns.
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
