package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/workerstatus"
)

// statusTimeout bounds one status write: a record not acknowledged by then
// fails, and the next status is written in its place. A variable for tests.
var statusTimeout = 5 * time.Second

// statusWarnEvery bounds the warnings of failed status writes.
const statusWarnEvery = time.Minute

// statusWriter publishes the worker's status to the status topic
// (topics.WorkerStatus, format workerstatus): whether it is ready and which
// partitions it is restoring, at once when that changes, every
// workerstatus.RestoringEvery while it is not ready, and every
// workerstatus.Heartbeat otherwise. It runs in its own goroutine and writes
// with a non-transactional client (the worker's admin client), one record at
// a time: a write never waits for the broker and never touches the
// transaction, and a failed one is only counted and logged (at most once a
// minute), so counting goes on whatever happens to the status.
type statusWriter struct {
	cl        *kgo.Client
	id        string
	ready     func() bool
	restoring func() []workerstatus.Restore
	ok, fail  prometheus.Counter
	log       *slog.Logger

	wake     chan struct{} // a change to write at once
	inflight atomic.Bool   // a record is waiting for its acknowledgement
	again    atomic.Bool   // a change came while it was

	warnMu   sync.Mutex
	lastWarn time.Time
}

// newStatusWriter returns the status writer of worker id, which writes
// with cl (not transactional) what ready and restoring report.
func newStatusWriter(cl *kgo.Client, id string, ready func() bool, restoring func() []workerstatus.Restore, m *Metrics, log *slog.Logger) *statusWriter {
	return &statusWriter{cl: cl, id: id, ready: ready, restoring: restoring, log: log, wake: make(chan struct{}, 1),
		ok: m.StatusWrites.WithLabelValues("ok"), fail: m.StatusWrites.WithLabelValues("failed")}
}

// changed asks for a write at once. It never blocks.
func (s *statusWriter) changed() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run writes the status until ctx ends.
func (s *statusWriter) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
		}
		timer.Reset(s.write(ctx))
	}
}

// write sends the current status unless a write is in flight (its
// acknowledgement asks for another), and returns when the next is due.
func (s *statusWriter) write(ctx context.Context) time.Duration {
	st := workerstatus.Status{Worker: s.id, Ready: s.ready(), Restoring: s.restoring(), At: time.Now()}
	next := workerstatus.Heartbeat
	if !st.Ready || len(st.Restoring) > 0 {
		next = workerstatus.RestoringEvery
	}
	if !s.inflight.CompareAndSwap(false, true) {
		s.again.Store(true)
		return next
	}
	key, value, err := workerstatus.Encode(st)
	if err != nil {
		s.inflight.Store(false)
		s.failed(err)
		return next
	}
	rctx, cancel := context.WithTimeout(ctx, statusTimeout)
	s.cl.TryProduce(rctx, &kgo.Record{Topic: topics.WorkerStatus, Key: key, Value: value}, func(_ *kgo.Record, err error) {
		cancel()
		switch {
		case err == nil:
			s.ok.Inc()
		case ctx.Err() != nil && errors.Is(err, context.Canceled):
			// The worker is stopping.
		default:
			s.failed(err)
		}
		s.inflight.Store(false)
		if s.again.Swap(false) {
			s.changed()
		}
	})
	return next
}

// failed counts a failed write and logs it, at most once a minute.
func (s *statusWriter) failed(err error) {
	s.fail.Inc()
	s.warnMu.Lock()
	defer s.warnMu.Unlock()
	if time.Since(s.lastWarn) < statusWarnEvery {
		return
	}
	s.lastWarn = time.Now()
	s.log.Warn("cannot write the worker's status (the cluster view shows it as unknown; counting goes on)",
		"topic", topics.WorkerStatus, "err", err)
}
