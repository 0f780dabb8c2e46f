package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/disk/dirlock"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/store"
	"github.com/counter-dev/counter/internal/worker/deadletter"
	"github.com/counter-dev/counter/internal/worker/task"
)

// Worker is one stream worker. Create it with New, run it with Run.
type Worker struct {
	cfg  Config
	log  *slog.Logger
	m    *Metrics
	sess *kgo.GroupTransactSession
	adm  *kadm.Client
	kcl  *kgo.Client   // adm's client, for requests of our own (skipInvisible)
	lock *dirlock.Lock // on the state dir, held from New to the end of Run

	// Run goroutine only: the position of each source at the last
	// caught-up check, and the last look for records left before its end.
	sourceStood  map[int32]int64
	sourceProbes map[int32]probeMemo
	store        *store.Store
	layout       topics.Layout
	outputs      []string           // output topic per window size, in Policy.Sizes order
	sizes        map[int64]sizeInfo // by window size in ms

	mu     sync.Mutex // guards events, appended by rebalance callbacks
	events []rebalanceEvent

	standbys *standbys

	// status publishes ready and the partitions restoring (status.go).
	status    *statusWriter
	restoring *restoring

	// Committed state, touched only by the Run goroutine.
	sources    map[int32]*source
	tasks      map[int32]*owned
	stateKeys  int64       // counts held by the owned tasks
	cachedKeys int64       // counts in the window cache (cache.go)
	ready      atomic.Bool // every owned task restored

	pending      map[int32]*pendingTask // committed counts not yet in the store (pending.go)
	pendingKeys  int
	checkpointed time.Time // last time pending counts were written

	key []byte // scratch buffer for store keys, Run goroutine only

	// refused holds the input records whose forwarded like or dead letter
	// the broker refused for good in an aborted transaction: its retry
	// dead-letters them, or skips them (see deadLetter). Run goroutine only.
	refused map[srcRef]refusal
}

// sizeInfo is what outputs of one window size need.
type sizeInfo struct {
	label      string
	topic      string
	partitions int32
}

// source is an ingestion partition this worker re-keys.
type source struct {
	pos   int64 // next offset to read as of the last commit, -1 unknown
	maxTs int64 // largest timestamp forwarded and committed
	sent  int64 // last watermark sent and committed
}

// owned is a partitioned-topic partition this worker counts: its counting
// core, and what the shell keeps beside it.
type owned struct {
	core     *task.Task
	cache    map[window.Window]map[string]uint64 // complete copies of some windows' counts (cache.go)
	demoTick int64                               // last demo tick sent (partition 0 only)
}

type rebalanceEvent struct {
	assigned bool
	parts    map[string][]int32
}

// New locks the state directory, connects to Kafka, checks the topics and
// opens the state store. The topics must exist (see topics.Ensure). A state
// directory locked by another process (or worker) fails at once with a
// *dirlock.HeldError, before anything in it is opened.
func New(ctx context.Context, cfg Config) (w *Worker, err error) {
	if err := cfg.fill(); err != nil {
		return nil, cannotRestart(fmt.Errorf("worker config: %w", err))
	}
	lock, err := dirlock.Acquire(cfg.StateDir)
	if err != nil {
		return nil, cannotRestart(fmt.Errorf("worker state dir: %w", err))
	}
	defer func() {
		if err != nil {
			lock.Release()
		}
	}()
	w = &Worker{
		lock:    lock,
		cfg:     cfg,
		log:     cfg.Logger.With("worker", cfg.ID),
		m:       cfg.Metrics,
		sources: map[int32]*source{},
		tasks:   map[int32]*owned{},
		pending: map[int32]*pendingTask{},
		refused: map[srcRef]refusal{},
	}
	for _, s := range cfg.Policy.Sizes {
		w.outputs = append(w.outputs, topics.Output(s))
	}
	admCl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts, kgo.WithLogger(kafkalog.New(w.log)))
	if err != nil {
		return nil, err
	}
	w.adm, w.kcl = kadm.NewClient(admCl), admCl
	// The admin client is not transactional: status records go through it,
	// outside the worker's transactions.
	w.restoring = newRestoring(func() { w.status.changed() })
	w.status = newStatusWriter(admCl, cfg.ID, w.Ready, w.restoring.snapshot, w.m, w.log)
	names := append([]string{topics.Ingestion, topics.Partitioned, topics.Changelog, topics.DeadLetter}, w.outputs...)
	if w.layout, err = topics.Describe(ctx, w.adm, names...); err != nil {
		w.adm.Close()
		return nil, err
	}
	if w.layout[topics.Changelog] != w.layout[topics.Partitioned] {
		w.adm.Close()
		return nil, fmt.Errorf("%s and %s must have the same number of partitions", topics.Changelog, topics.Partitioned)
	}
	w.sizes = map[int64]sizeInfo{}
	for _, s := range cfg.Policy.Sizes {
		w.sizes[s.Millis] = sizeInfo{label: s.Label, topic: topics.Output(s), partitions: w.layout[topics.Output(s)]}
	}
	batchMax, err := w.batchLimits(ctx, names)
	if err != nil {
		w.adm.Close()
		return nil, err
	}
	if w.store, err = store.Open(cfg.StateDir, w.log); err != nil {
		w.adm.Close()
		return nil, cannotRestart(err)
	}
	w.store.KeepFree(cfg.MinFreeDisk, cfg.FreeSpace)
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ClientID(topics.WorkerClientIDPrefix + cfg.ID),
		kgo.ConsumeTopics(topics.Ingestion, topics.Partitioned),
		kgo.TransactionalID(topics.WorkerTransactionalID(cfg.Group, cfg.ID)),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/3)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Control records (transaction markers) are kept so that the
		// position after the last record read can equal the end offset.
		kgo.KeepControlRecords(),
		// Every record gets its partition from us: likes by key hash,
		// changelog records and marks explicitly.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// No batch larger than the broker takes: a record refused as too
		// large is then refused for itself, never for its neighbours.
		kgo.ProducerBatchMaxBytesFn(batchMax),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { w.push(true, p) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { w.push(false, p) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { w.push(false, p) }),
		kgo.WithLogger(kafkalog.New(w.log)),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	opts = append(opts, cfg.KafkaOpts...) // TLS, SASL
	if w.standbys, err = newStandbys(w); err != nil {
		w.store.Close()
		w.adm.Close()
		return nil, err
	}
	if w.sess, err = kgo.NewGroupTransactSession(opts...); err != nil {
		w.standbys.cl.Close()
		w.store.Close()
		w.adm.Close()
		return nil, err
	}
	return w, nil
}

func (w *Worker) push(assigned bool, parts map[string][]int32) {
	if len(parts) == 0 && !assigned {
		return
	}
	// An empty assignment is kept: it marks the worker ready (an idle
	// spare that owns nothing yet).
	w.mu.Lock()
	w.events = append(w.events, rebalanceEvent{assigned, parts})
	w.mu.Unlock()
}

// Ready reports whether the worker has joined the group and restored the
// state of every partition it owns. Safe for concurrent use.
func (w *Worker) Ready() bool { return w.ready.Load() }

// setReady sets Ready, and has a change of it written to the status topic.
func (w *Worker) setReady(ready bool) {
	if w.ready.Swap(ready) != ready {
		w.status.changed()
	}
}

// Run processes until ctx is cancelled, then commits the open transaction,
// leaves the group and closes the store. An error means the worker cannot go
// on (its state is safe: restart it).
func (w *Worker) Run(ctx context.Context) (err error) {
	sbCtx, stopStandbys := context.WithCancel(ctx)
	sbDone := make(chan struct{})
	go func() { defer close(sbDone); w.standbys.run(sbCtx) }()
	statusCtx, stopStatus := context.WithCancel(ctx)
	statusDone := make(chan struct{})
	go func() { defer close(statusDone); w.status.run(statusCtx) }()
	defer func() {
		stopStandbys()
		stopStatus()
		<-sbDone
		<-statusDone
		w.sess.Close()
		w.adm.Close()
		// Committed counts not yet in the store: write them, or the next
		// start replays them from the changelog.
		if ferr := w.flushPending(); err == nil {
			err = ferr
		}
		if cerr := w.store.Close(); err == nil {
			err = cerr
		}
		w.lock.Release()
	}()
	w.log.Info("worker started", "group", w.cfg.Group, "partitions", w.layout[topics.Partitioned],
		"sources", w.layout[topics.Ingestion], "windows", w.cfg.Policy.Labels())
	for ctx.Err() == nil {
		if err := w.cycle(ctx); err != nil {
			return err
		}
	}
	w.log.Info("worker stopping")
	return nil
}

// cycle runs one transaction: poll and process for one commit interval, send
// watermarks and demo likes, then commit.
func (w *Worker) cycle(ctx context.Context) error {
	// Below the disk reserve, stop here, between transactions, with a
	// clear error: the store could not take the next checkpoint.
	if err := w.store.CheckFree(); err != nil {
		return err
	}
	if _, err := w.applyEvents(ctx); err != nil {
		return err
	}
	t := newTxn()
	deadline := time.Now().Add(w.cfg.CommitInterval)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pollCtx, cancel := context.WithDeadline(ctx, deadline)
		fetches := w.sess.PollFetches(pollCtx)
		cancel()
		if fetches.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		for _, fe := range fetches.Errors() {
			// Another member took this worker's static instance id: its
			// group session is over for good (the supervisor decides
			// whether that is a restart or a duplicate worker).
			if errors.Is(fe.Err, kerr.FencedInstanceID) {
				return fmt.Errorf("group %s: %w", w.cfg.Group, fe.Err)
			}
			if !errors.Is(fe.Err, context.Canceled) && !errors.Is(fe.Err, context.DeadlineExceeded) {
				w.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
		}
		if fetches.NumRecords() == 0 {
			continue
		}
		if err := w.begin(t); err != nil {
			return err
		}
		if err := w.process(ctx, t, fetches); err != nil {
			return err
		}
	}
	// The end of a transaction must not be cut short by shutdown: finish
	// it with a context of its own.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.TransactionTimeout)
	defer cancel()
	if err := w.tick(endCtx, t); err != nil {
		return err
	}
	if !t.began {
		return nil
	}
	if err := w.finish(t); err != nil {
		return err
	}
	return w.end(endCtx, t)
}

func (w *Worker) begin(t *txn) error {
	if t.began {
		return nil
	}
	if err := w.sess.Begin(); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	t.began, t.start = true, time.Now()
	return nil
}

// process handles the records of one poll.
func (w *Worker) process(ctx context.Context, t *txn, fetches kgo.Fetches) error {
	var err error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if err != nil || len(p.Records) == 0 {
			return
		}
		last := p.Records[len(p.Records)-1]
		t.span(p.Topic, p.Partition, p.Records[0].Offset, last.Offset+1)
		w.m.Lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(0, p.HighWatermark-last.Offset-1)))
		switch p.Topic {
		case topics.Ingestion:
			err = w.rekey(ctx, t, p.Partition, p.Records)
		case topics.Partitioned:
			err = w.count(ctx, t, p.Partition, p.Records)
		}
	})
	return err
}

// applyEvents applies pending rebalance events: new sources start empty, new
// tasks restore their state first. It reports whether anything was revoked.
func (w *Worker) applyEvents(ctx context.Context) (revoked bool, err error) {
	w.mu.Lock()
	events := w.events
	w.events = nil
	w.mu.Unlock()
	for _, ev := range events {
		var restored map[int32]*owned
		if ev.assigned && len(ev.parts[topics.Partitioned]) > 0 {
			w.setReady(false)
			if restored, err = w.restore(ctx, ev.parts[topics.Partitioned]); err != nil {
				return revoked, fmt.Errorf("restoring partitions %v: %w", ev.parts[topics.Partitioned], err)
			}
		}
		for topic, parts := range ev.parts {
			for _, p := range parts {
				switch {
				case ev.assigned && topic == topics.Ingestion:
					w.sources[p] = &source{pos: -1, maxTs: watermark.None, sent: watermark.None}
				case ev.assigned && topic == topics.Partitioned:
					o := restored[p]
					w.tasks[p] = o
					w.stateKeys += o.core.Keys()
				case topic == topics.Ingestion:
					delete(w.sources, p)
					revoked = true
				case topic == topics.Partitioned:
					if o := w.tasks[p]; o != nil {
						w.stateKeys -= o.core.Keys()
						w.uncacheTask(o)
					}
					if err := w.flushPending(p); err != nil {
						return revoked, err
					}
					delete(w.tasks, p)
					w.standbys.disown(p)
					revoked = true
				}
			}
		}
		kind := "revoked"
		if ev.assigned {
			kind = "assigned"
		}
		if len(ev.parts) > 0 {
			w.m.Rebalances.WithLabelValues(kind).Inc()
			w.log.Info("partitions changed", "assigned", ev.assigned, "partitions", ev.parts)
		}
	}
	if len(events) > 0 {
		w.setReady(true)
		w.m.Partitions.WithLabelValues(topics.Ingestion).Set(float64(len(w.sources)))
		w.m.Partitions.WithLabelValues(topics.Partitioned).Set(float64(len(w.tasks)))
		w.m.StateKeys.Set(float64(w.stateKeys))
	}
	return revoked, nil
}

// end commits (or, if doomed or a record failed, aborts) the transaction,
// and on commit applies it to the committed state and the store.
// whileDiskOK returns a context that is cancelled when the free space of
// the state dir falls below the reserve (store.CheckFree), looked at every
// quarter second, and a function that releases it.
func (w *Worker) whileDiskOK(ctx context.Context) (context.Context, func()) {
	if w.cfg.MinFreeDisk == 0 {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if w.store.CheckFree() != nil {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel() }
}

func (w *Worker) end(ctx context.Context, t *txn) error {
	commit := !t.doomed
	if commit {
		flushCtx, stop := w.whileDiskOK(ctx)
		err := w.sess.Client().Flush(flushCtx)
		stop()
		if low := w.store.CheckFree(); err != nil && low != nil {
			// The disk is full (the broker on it refuses the records
			// too): abort the transaction and stop, rather than retry
			// the records until the transaction times out.
			abortCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, aerr := w.sess.End(abortCtx, kgo.TryAbort); aerr != nil {
				w.log.Warn("aborting the transaction on a full disk", "err", aerr)
			}
			return low
		}
		if err != nil {
			return fmt.Errorf("flushing transaction: %w", err)
		}
		if t.produceErr != nil {
			commit = false
			w.produceFailed(t)
		}
	}
	var pid int64
	var epoch int16
	tracing := w.log.Enabled(ctx, slog.LevelDebug)
	if tracing {
		pid, epoch, _ = w.sess.Client().ProducerID(ctx)
	}
	start := time.Now()
	committed, err := w.sess.End(ctx, kgo.TransactionEndTry(commit))
	if tracing {
		w.log.Debug("transaction ended", "committed", committed, "err", err, "want_commit", commit,
			"producer_id", pid, "epoch", epoch, "consumed", t.consumedTrace(), "changelog", t.changelogTrace())
	}
	w.m.CommitSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		t.abortTouched()
		w.m.Transactions.WithLabelValues("aborted").Inc()
		return fmt.Errorf("ending transaction: %w", err)
	}
	if !committed {
		t.abortTouched()
		w.m.Transactions.WithLabelValues("aborted").Inc()
		w.log.Info("transaction aborted; uncommitted state dropped", "doomed", t.doomed)
		if t.permanentErr != nil && len(t.refusals) == 0 {
			// A record made of no single input (an output, a changelog
			// record, a mark, combined likes) is refused for good: all
			// of these are small by construction, so the broker's limits
			// are wrong. Retrying would fail the same way forever.
			return cannotRestart(fmt.Errorf("the broker refuses a record the worker made, for good (check the topic's max.message.bytes): %w", t.permanentErr))
		}
		return nil
	}
	for _, src := range t.used {
		delete(w.refused, src)
	}
	for _, s := range t.skipped {
		w.m.Skipped.Inc()
		w.log.Error("record skipped: the broker refused its dead letter for good", "topic", s.src.topic, "partition", s.src.partition,
			"offset", s.src.offset, "reason", s.reason, "value_bytes", s.valueBytes, "err", s.err)
	}
	w.m.Transactions.WithLabelValues("committed").Inc()
	return w.apply(t)
}

// produceFailed logs the produce failures of a transaction about to abort,
// and remembers the input records whose products the broker refused for
// good, for the retry to route around them.
func (w *Worker) produceFailed(t *txn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.refusals) == 0 {
		w.log.Warn("a record of the transaction failed; aborting", "err", t.produceErr)
		return
	}
	for src, f := range t.refusals {
		prev := w.refused[src]
		if f.forward != nil {
			prev.forward = f.forward
		}
		if f.deadLetter != nil {
			prev.deadLetter = f.deadLetter
		}
		w.refused[src] = prev
		w.log.Warn("the broker refused a record for good; aborting, the retry dead-letters its input (or skips it if its dead letter was refused)",
			"topic", src.topic, "partition", src.partition, "offset", src.offset, "forward_err", f.forward, "dead_letter_err", f.deadLetter)
	}
}

// defaultBatchMax is kgo's default record batch limit, below Kafka's
// default max.message.bytes.
const defaultBatchMax = 1_000_012

// batchLimits returns the largest record batch to produce to each topic:
// kgo's default, or less where the topic's max.message.bytes is less. It
// warns when a topic cannot take the largest dead letter.
func (w *Worker) batchLimits(ctx context.Context, names []string) (func(string) int32, error) {
	limits, err := topics.MaxMessageBytes(ctx, w.adm, names...)
	if err != nil {
		return nil, err
	}
	const batchOverhead = 61 // record batch header
	if l, ok := limits[topics.DeadLetter]; ok && int(l) < deadletter.MaxBytes+batchOverhead {
		w.log.Warn("the dead-letter topic's max.message.bytes is below the largest dead letter: large dead letters will be skipped",
			"max_message_bytes", l, "dead_letter_max_bytes", deadletter.MaxBytes+batchOverhead)
	}
	return func(topic string) int32 {
		if l, ok := limits[topic]; ok && l >= 512 && l < defaultBatchMax {
			return l
		}
		return defaultBatchMax
	}, nil
}
