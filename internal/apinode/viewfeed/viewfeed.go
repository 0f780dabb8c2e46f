// Package viewfeed reads the output topics into a view.View. Every API
// instance reads every partition of every video_aggregations_* topic with a
// direct (group-less) read_committed consumer, so any instance can answer
// for any video. Reading starts at the offsets of the records produced a few
// windows ago (ListOffsets by timestamp, per topic), which covers the windows
// the view keeps without replaying the topics from the start.
package viewfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// DefaultPruneInterval is how often old windows are dropped from the view.
const DefaultPruneInterval = time.Second

// Config configures a Feed.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// PruneInterval is how often windows past the view's horizon are
	// dropped; DefaultPruneInterval if zero.
	PruneInterval time.Duration
	// Logger receives the feed's logs; slog.Default() if nil.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Feed keeps a view up to date with the output topics.
type Feed struct {
	cfg    Config
	view   *view.View
	notify func([]view.Change)
	log    *slog.Logger
	m      *metrics
	ready  chan struct{}
}

// New returns a feed into v; notify, if not nil, is called with the changes
// of each batch of records, from the feed's goroutine.
func New(cfg Config, v *view.View, notify func([]view.Change)) *Feed {
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if notify == nil {
		notify = func([]view.Change) {}
	}
	return &Feed{cfg: cfg, view: v, notify: notify, log: cfg.Logger.With("component", "viewfeed"),
		m: newMetrics(cfg.Registerer), ready: make(chan struct{})}
}

// Ready is closed once the feed has read every record that was in the
// topics when it started: the view is then complete.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// IsReady reports whether Ready is closed.
func (f *Feed) IsReady() bool {
	select {
	case <-f.ready:
		return true
	default:
		return false
	}
}

// start is where reading begins and what "caught up" means.
type start struct {
	offsets map[string]map[int32]kgo.Offset
	targets map[string]map[int32]int64 // committed end offsets at start
}

// Run reads until ctx ends. It waits for the brokers and the topics when
// they are not there yet; it returns ctx's error.
func (f *Feed) Run(ctx context.Context) error {
	go f.pruneLoop(ctx)
	adminCl, err := kafkaconn.NewClient(f.cfg.Brokers, f.cfg.KafkaOpts, kgo.WithLogger(kafkalog.New(f.log)))
	if err != nil {
		return err
	}
	st, err := f.locate(ctx, kadm.NewClient(adminCl))
	adminCl.Close()
	if err != nil {
		return err
	}
	cl, err := kafkaconn.NewClient(f.cfg.Brokers, f.cfg.KafkaOpts,
		kgo.WithLogger(kafkalog.New(f.log)),
		kgo.ConsumePartitions(st.offsets),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // their offsets tell when the start's end is reached
		kgo.FetchMaxWait(time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	f.consume(ctx, cl, st)
	return ctx.Err()
}

// locate finds, for every partition of every output topic, the offset of
// the first record produced Keep+1 windows before the current one, and the
// committed end offsets. It retries until it succeeds or ctx ends.
func (f *Feed) locate(ctx context.Context, adm *kadm.Client) (start, error) {
	for attempt := 0; ; attempt++ {
		st, err := f.tryLocate(ctx, adm)
		if err == nil {
			return st, nil
		}
		if attempt%10 == 0 {
			f.log.Warn("cannot locate the output topics yet; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return start{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (f *Feed) tryLocate(ctx context.Context, adm *kadm.Client) (start, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st := start{offsets: map[string]map[int32]kgo.Offset{}, targets: map[string]map[int32]int64{}}
	now := time.Now()
	for _, s := range f.view.Sizes() {
		topic := topics.Output(s)
		// A record produced before this holds no window the view keeps.
		from := now.Add(-time.Duration(int64(f.view.Keep()+1)*s.Millis) * time.Millisecond)
		offs, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), topic)
		if err != nil {
			return start{}, fmt.Errorf("offsets of %s: %w", topic, err)
		}
		ends, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return start{}, fmt.Errorf("end offsets of %s: %w", topic, err)
		}
		st.offsets[topic] = map[int32]kgo.Offset{}
		st.targets[topic] = map[int32]int64{}
		var perr error
		offs.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				perr = errors.Join(perr, fmt.Errorf("%s/%d: %w", topic, o.Partition, o.Err))
				return
			}
			st.offsets[topic][o.Partition] = kgo.NewOffset().At(o.Offset)
			if e, ok := ends.Lookup(topic, o.Partition); ok && e.Offset > o.Offset {
				st.targets[topic][o.Partition] = e.Offset
			}
		})
		if perr != nil {
			return start{}, perr
		}
		if len(st.offsets[topic]) == 0 {
			return start{}, fmt.Errorf("topic %s has no partitions", topic)
		}
	}
	return st, nil
}

// consume applies records until ctx ends.
func (f *Feed) consume(ctx context.Context, cl *kgo.Client, st start) {
	begun := time.Now()
	pending := 0
	for _, ps := range st.targets {
		pending += len(ps)
	}
	replayed := 0
	f.markReadyIf(pending == 0, 0, begun)
	var changes []view.Change
	var lastWarn time.Time
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if time.Since(lastWarn) > 10*time.Second {
				lastWarn = time.Now()
				f.log.Warn("fetching an output topic failed; retrying", "topic", topic, "partition", p, "err", err)
			}
		})
		now := time.Now()
		changes = changes[:0]
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if !r.Attrs.IsControl() {
					changes = f.apply(r, now, changes)
					replayed++
				}
			}
			if n := len(p.Records); n > 0 && pending > 0 {
				if target, ok := st.targets[p.Topic][p.Partition]; ok && p.Records[n-1].Offset+1 >= target {
					delete(st.targets[p.Topic], p.Partition)
					pending--
					f.markReadyIf(pending == 0, replayed, begun)
				}
			}
		})
		if len(changes) > 0 {
			f.notify(changes)
		}
	}
}

func (f *Feed) markReadyIf(done bool, replayed int, begun time.Time) {
	if done && !f.IsReady() {
		close(f.ready)
		f.m.ready.Set(1)
		f.log.Info("live view caught up with the output topics", "records", replayed, "took", time.Since(begun).Round(time.Millisecond))
	}
}

// apply folds one output record into the view.
func (f *Feed) apply(r *kgo.Record, now time.Time, changes []view.Change) []view.Change {
	a, err := record.ParseAggregation(r.Value)
	if err != nil {
		f.m.records.WithLabelValues(resultBad).Inc()
		f.log.Debug("ignoring a bad output record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return changes
	}
	ch, res := f.view.Apply(a, now)
	f.m.records.WithLabelValues(res.String()).Inc()
	if res == view.Applied {
		changes = append(changes, ch)
	}
	if f.IsReady() {
		f.m.delay.Observe(now.Sub(r.Timestamp).Seconds())
	}
	return changes
}

// pruneLoop drops old windows and updates the size gauges.
func (f *Feed) pruneLoop(ctx context.Context) {
	t := time.NewTicker(f.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.view.Prune(now)
			windows, counts := f.view.Stats()
			f.m.windows.Set(float64(windows))
			f.m.counts.Set(float64(counts))
		}
	}
}
