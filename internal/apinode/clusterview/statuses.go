package clusterview

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/workerstatus"
)

// StatusSource gives the latest status each worker wrote.
type StatusSource interface {
	// Status returns the latest status of worker id, if any was read.
	Status(id string) (workerstatus.Status, bool)
}

// StatusConfig configures a Statuses.
type StatusConfig struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Logger receives the warnings; slog.Default() if nil.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Statuses keeps the latest status of each worker, read from the status
// topic (topics.WorkerStatus) by a background, group-less consumer. It
// starts from the records written in the last two workerstatus.MaxAge, not
// from the topic's start: older statuses are unknown anyway, and every live
// worker writes one each workerstatus.Heartbeat, so the start-up cost does
// not grow with the topic. A record that does not parse is skipped and
// counted (counter_cluster_status_records_total{result="bad_record"}); it
// never breaks the view. Safe for concurrent use.
type Statuses struct {
	cl              *kgo.Client
	log             *slog.Logger
	applied, broken prometheus.Counter

	mu     sync.Mutex
	latest map[string]workerstatus.Status
}

// NewStatuses connects the consumer; Run reads.
func NewStatuses(cfg StatusConfig) (*Statuses, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("topic", topics.WorkerStatus)
	since := time.Now().Add(-2 * workerstatus.MaxAge).UnixMilli()
	cl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts,
		kgo.WithLogger(kafkalog.New(log)),
		kgo.ConsumeTopics(topics.WorkerStatus),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(since)),
		kgo.FetchMaxWait(time.Second),
	)
	if err != nil {
		return nil, err
	}
	records := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "counter_cluster_status_records_total",
		Help: "Records of the workers' status topic read for the cluster view, by result (applied, bad_record)."}, []string{"result"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(records)
	}
	return &Statuses{cl: cl, log: log, latest: map[string]workerstatus.Status{},
		applied: records.WithLabelValues("applied"), broken: records.WithLabelValues("bad_record")}, nil
}

// Run reads the topic until ctx ends or Close is called.
func (s *Statuses) Run(ctx context.Context) {
	var lastWarn time.Time
	for {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(_ string, p int32, err error) {
			if time.Since(lastWarn) > time.Minute {
				lastWarn = time.Now()
				s.log.Warn("cannot read the workers' status; retrying", "partition", p, "err", err)
			}
		})
		fs.EachRecord(s.apply)
	}
}

// apply folds one record in: the latest status of its worker, or its
// removal for a tombstone.
func (s *Statuses) apply(r *kgo.Record) {
	if r.Value == nil {
		s.mu.Lock()
		delete(s.latest, string(r.Key))
		s.mu.Unlock()
		s.applied.Inc()
		return
	}
	st, err := workerstatus.Parse(r.Key, r.Value)
	if err != nil {
		s.broken.Inc()
		s.log.Debug("skipped a bad status record", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	s.mu.Lock()
	s.latest[st.Worker] = st // log order: the topic has one partition
	s.mu.Unlock()
	s.applied.Inc()
}

// Status returns the latest status of worker id.
func (s *Statuses) Status(id string) (workerstatus.Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.latest[id]
	return st, ok
}

// Close closes the consumer; Run returns. Call it once, after Run returned
// or with Run still going.
func (s *Statuses) Close() { s.cl.Close() }
