package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

// Metrics are the Prometheus metrics of one worker.
type Metrics struct {
	Counted          prometheus.Counter
	Rekeyed          prometheus.Counter
	DeadLettered     *prometheus.CounterVec
	Late             *prometheus.CounterVec
	Transactions     *prometheus.CounterVec
	CommitSeconds    prometheus.Histogram
	WindowsClosed    *prometheus.CounterVec
	Finals           prometheus.Counter
	Updates          prometheus.Counter
	Lag              *prometheus.GaugeVec
	Restored         prometheus.Counter
	Marks            prometheus.Counter
	DemoLikes        prometheus.Counter
	Partitions       *prometheus.GaugeVec
	Duplicates       prometheus.Counter
	Rebalances       *prometheus.CounterVec
	Standbys         prometheus.Gauge
	StandbyRecords   prometheus.Counter
	RestoreRemaining *prometheus.GaugeVec
	StateKeys        prometheus.Gauge
	CachedKeys       prometheus.Gauge
	Checkpoints      prometheus.Counter
	RekeyRecords     prometheus.Counter
	CountedHere      prometheus.Counter
	CacheEvictions   prometheus.Counter
	Skipped          prometheus.Counter
	StatusWrites     *prometheus.CounterVec
}

// NewMetrics registers a worker's metrics in reg. Several workers in one
// process (counter dev) wrap reg with a distinct "worker" label each.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Counted: prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_likes_counted_total",
			Help: "Likes counted into at least one window."}),
		Rekeyed: prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_likes_rekeyed_total",
			Help: "Likes read from the ingestion topic and re-keyed by video id."}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "counter_worker_dead_lettered_total",
			Help: "Records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		Late: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "counter_worker_late_total",
			Help: "Likes not counted into a window because it had closed, by window size."}, []string{"window"}),
		Transactions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "counter_worker_transactions_total",
			Help: "Kafka transactions ended, by result (committed, aborted)."}, []string{"result"}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "counter_worker_commit_seconds",
			Help: "Time to end a transaction (flush, offsets, EndTxn).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		WindowsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "counter_worker_windows_closed_total",
			Help: "Windows closed (per partition), by window size."}, []string{"window"}),
		Finals: prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_final_records_total",
			Help: "final:true output records emitted."}),
		Updates: prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_update_records_total",
			Help: "final:false output records emitted."}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "counter_worker_consumer_lag",
			Help: "Records between the last one processed and the partition's end, as of the last fetch."}, []string{"topic", "partition"}),
		Restored: prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_restored_records_total",
			Help: "Changelog records replayed into the local store."}),
		Marks: prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_watermark_marks_total",
			Help: "Watermark marks sent to the partitioned topic."}),
		DemoLikes: prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_demo_likes_total",
			Help: "Likes sent by the demo generator."}),
		Partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "counter_worker_partitions",
			Help: "Partitions owned, by topic."}, []string{"topic"}),
	}
	m.Duplicates = prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_duplicates_total",
		Help: "Likes not counted because their Idempotency-Key and index were already counted."})
	m.Rebalances = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "counter_worker_rebalance_events_total",
		Help: "Partition assignment changes seen by this worker, by kind (assigned, revoked)."}, []string{"kind"})
	m.Standbys = prometheus.NewGauge(prometheus.GaugeOpts{Name: "counter_worker_standby_partitions",
		Help: "Partitions this worker keeps a warm standby copy of."})
	m.StandbyRecords = prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_standby_records_total",
		Help: "Changelog records applied to standby copies."})
	m.RestoreRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "counter_worker_restore_remaining_records",
		Help: "Changelog records left to replay before a partition is ready (0 when ready)."}, []string{"partition"})
	m.StateKeys = prometheus.NewGauge(prometheus.GaugeOpts{Name: "counter_worker_state_keys",
		Help: "Window counts (video, window) held in the local store for the partitions owned."})
	m.CachedKeys = prometheus.NewGauge(prometheus.GaugeOpts{Name: "counter_worker_cached_keys",
		Help: "Window counts also held in memory (the window cache), at most --cache-keys."})
	m.CacheEvictions = prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_cache_evictions_total",
		Help: "Windows dropped from the window cache to stay within --cache-keys (they read the store from then on)."})
	m.RekeyRecords = prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_rekeyed_records_total",
		Help: "Records written to the partitioned topic: likes of one video and window step read in one transaction are combined into one."})
	m.Checkpoints = prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_checkpoints_total",
		Help: "Times the counts committed since the last checkpoint were written to the store (every --checkpoint-interval)."})
	m.CountedHere = prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_likes_counted_here_total",
		Help: "Likes counted by the worker that re-keyed them (it owns their partition), without a trip through the partitioned topic."})
	m.Skipped = prometheus.NewCounter(prometheus.CounterOpts{Name: "counter_worker_skipped_records_total",
		Help: "Input records neither counted nor dead-lettered: the broker refused even their dead letter for good."})
	m.StatusWrites = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "counter_worker_status_writes_total",
		Help: "Writes of the worker's status to the status topic (ready, partitions restoring), by result (ok, failed)."}, []string{"result"})
	reg.MustRegister(m.StatusWrites, m.Skipped, m.CountedHere, m.Checkpoints, m.RekeyRecords, m.CachedKeys, m.CacheEvictions, m.StateKeys, m.Rebalances, m.Standbys, m.StandbyRecords, m.RestoreRemaining, m.Duplicates, m.Counted, m.Rekeyed, m.DeadLettered, m.Late, m.Transactions, m.CommitSeconds,
		m.WindowsClosed, m.Finals, m.Updates, m.Lag, m.Restored, m.Marks, m.DemoLikes, m.Partitions)
	for _, r := range videoid.Reasons {
		m.DeadLettered.WithLabelValues(string(r))
	}
	m.DeadLettered.WithLabelValues(record.ReasonLate)
	m.DeadLettered.WithLabelValues(record.ReasonFuture)
	m.DeadLettered.WithLabelValues(record.ReasonBadCount)
	m.DeadLettered.WithLabelValues(record.ReasonBadIdempotency)
	m.DeadLettered.WithLabelValues(record.ReasonProduceError)
	m.Transactions.WithLabelValues("committed")
	m.Transactions.WithLabelValues("aborted")
	m.Rebalances.WithLabelValues("assigned")
	m.Rebalances.WithLabelValues("revoked")
	m.StatusWrites.WithLabelValues("ok")
	m.StatusWrites.WithLabelValues("failed")
	return m
}
