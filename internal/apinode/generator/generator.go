// Package generator is the server-side like generator: a run sends, for
// each of its videos, a scheduled number of likes in each of ten steps, a
// step being one window of the smallest size, through the same ingest sink
// as the HTTP likes.
//
// Exactly one API instance runs the generator at a time, and all of them
// share its state:
//
//   - Runs, cancellations and progress are records of the compacted topic
//     counter_generator (package kvlog), which every instance reads whole
//     and folds into the same plan.State. A run request is accepted or
//     rejected by that deterministic state machine, in log order, so two
//     instances that accept requests at the same time agree on which one
//     won.
//   - The runner is elected through a consumer group on the one-partition
//     topic counter_generator_election (package leader): the member that
//     owns partition 0 sends the likes.
//   - The runner records its progress after each slice of a step. A new
//     runner resumes after the last recorded slice; the slice that was in
//     flight is sent again with the same idempotency key and indexes, so the
//     workers count its likes once. A runner that lost its leadership
//     without knowing it may send a slice twice for the same reason without
//     harm. A slice whose window has closed (its step's end plus the
//     workers' grace) is not sent any more: it is reported as skipped.
package generator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/generator/plan"
	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/kafka/kvlog"
	"github.com/counter-dev/counter/internal/kafka/leader"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Topics and group of the generator.
const (
	Topic         = "counter_generator"
	ElectionTopic = "counter_generator_election"
	DefaultGroup  = "counter-generator"
)

// Sink sends likes; *ingest.KafkaSink is one.
type Sink interface {
	Send(ctx context.Context, l ingest.Likes) error
}

// Config configures a Service.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Replication is the replication factor of the topics when created.
	Replication int16
	// StepMs is the length of a step: the smallest window size.
	StepMs int64
	// Grace is the workers' grace: a slice that could not be sent before
	// its window closed (its step's end plus Grace) is given up and
	// reported as skipped. window.DefaultGrace if zero.
	Grace time.Duration
	// Instance names this instance in the runs' progress (the runner).
	Instance string
	// Group is the election's consumer group; DefaultGroup if empty.
	Group string
	// SessionTimeout is how long a dead runner keeps the leadership
	// (leader.DefaultSessionTimeout if zero).
	SessionTimeout time.Duration
	// OnStatus, if set, receives the JSON status of the current run
	// whenever it changes (for the generator_progress push).
	OnStatus func(json.RawMessage)
	// Logger receives the logs; slog.Default() if nil.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Service is the generator of one API instance.
type Service struct {
	cfg  Config
	sink Sink
	log  *slog.Logger
	m    *metrics
	kv   *kvlog.Log

	mu      sync.Mutex
	state   plan.State
	changed chan struct{} // closed (and replaced) when the current run changes

	cancel context.CancelFunc
	done   chan struct{}
}

// Open loads the generator's state and joins the runner election.
func Open(ctx context.Context, cfg Config, sink Sink) (*Service, error) {
	if cfg.StepMs <= 0 || sink == nil || cfg.Instance == "" {
		return nil, errors.New("generator: step, sink and instance are required")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Grace <= 0 {
		cfg.Grace = window.DefaultGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, sink: sink, log: cfg.Logger.With("component", "generator"), m: newMetrics(cfg.Registerer), changed: make(chan struct{})}
	kv, err := kvlog.Open(ctx, kvlog.Config{Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Topic: Topic, Replication: cfg.Replication, Apply: s.apply, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s.kv = kv
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		err := leader.Run(runCtx, leader.Config{Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Group: cfg.Group, Topic: ElectionTopic,
			Replication: cfg.Replication, SessionTimeout: cfg.SessionTimeout, Logger: cfg.Logger}, s.lead)
		if err != nil && runCtx.Err() == nil {
			s.log.Error("generator: runner election failed; this instance will not run the generator", "err", err)
		}
	}()
	return s, nil
}

// Close leaves the election (stopping the runner, if this instance is it)
// and stops reading the topic.
func (s *Service) Close() {
	s.cancel()
	<-s.done
	s.kv.Close()
}

// apply folds a record of the topic into the state.
func (s *Service) apply(r kvlog.Record) {
	s.mu.Lock()
	changed, err := s.state.Apply(string(r.Key), r.Value)
	var status []byte
	if changed {
		close(s.changed)
		s.changed = make(chan struct{})
		if s.cfg.OnStatus != nil {
			status, _ = json.Marshal(s.state.Current().Status(time.Now().UnixMilli()))
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("generator: ignoring a bad record", "offset", r.Offset, "err", err)
	}
	if status != nil {
		s.cfg.OnStatus(status)
	}
}

// snapshot returns the current run and the channel closed at its next change.
func (s *Service) snapshot() (*plan.RunState, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Current(), s.changed
}

// Status returns the status of the latest accepted run, if any.
func (s *Service) Status() (plan.Status, bool) {
	cur, _ := s.snapshot()
	if cur == nil {
		return plan.Status{}, false
	}
	return cur.Status(time.Now().UnixMilli()), true
}

// Start requests a run of req, starting at the next step boundary. It fails
// with plan.ErrRunActive (and the status of the active run) when a run is
// scheduled or running, including one requested at the same moment on
// another instance and ordered first in the log.
func (s *Service) Start(ctx context.Context, req plan.Request) (plan.Status, error) {
	now := time.Now()
	if cur, _ := s.snapshot(); cur != nil && cur.ActiveAt(now.UnixMilli()) {
		return cur.Status(now.UnixMilli()), plan.ErrRunActive
	}
	run := plan.NewRun(newRunID(), req, s.cfg.StepMs, now.UnixMilli())
	b, err := json.Marshal(run)
	if err != nil {
		return plan.Status{}, err
	}
	key := []byte(plan.RunKey(run.ID))
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return plan.Status{}, err
	}
	s.mu.Lock()
	accepted, _ := s.state.Verdict(run.ID)
	cur := s.state.Current()
	s.mu.Unlock()
	if !accepted {
		// The request lost to another one; its record decided nothing,
		// so compaction may as well remove it.
		if _, err := s.kv.Put(ctx, key, nil); err != nil {
			s.log.Warn("generator: cannot delete a rejected request", "run", run.ID, "err", err)
		}
		return cur.Status(time.Now().UnixMilli()), plan.ErrRunActive
	}
	s.log.Info("generator run accepted", "run", run.ID, "start", time.UnixMilli(run.StartMs).UTC(), "step", time.Duration(run.StepMs)*time.Millisecond,
		"videos", len(run.Videos), "likes", run.Total())
	if cur == nil || cur.Run.ID != run.ID {
		cur = &plan.RunState{Run: run}
	}
	return cur.Status(time.Now().UnixMilli()), nil
}

// Cancel cancels the active run; it fails with plan.ErrNoActiveRun when
// there is none. Likes of a slice being sent at that moment may still go.
func (s *Service) Cancel(ctx context.Context) (plan.Status, error) {
	now := time.Now().UnixMilli()
	cur, _ := s.snapshot()
	if cur == nil || !cur.ActiveAt(now) {
		return plan.Status{}, plan.ErrNoActiveRun
	}
	b, _ := json.Marshal(plan.Cancel{AtMs: now})
	if _, err := s.kv.Put(ctx, []byte(plan.CancelKey(cur.Run.ID)), b); err != nil {
		return plan.Status{}, err
	}
	s.log.Info("generator run canceled", "run", cur.Run.ID)
	st, _ := s.Status()
	return st, nil
}

// lead runs the generator while this instance is the elected runner.
func (s *Service) lead(ctx context.Context) {
	s.m.leader.Set(1)
	defer s.m.leader.Set(0)
	s.log.Info("this instance runs the generator", "instance", s.cfg.Instance)
	for {
		cur, changed := s.snapshot()
		if cur != nil && !cur.Canceled && cur.Progress.Next < cur.Run.Slices() {
			s.execute(ctx, cur)
			if ctx.Err() != nil {
				return
			}
			if next, _ := s.snapshot(); next != nil && next.Run.ID == cur.Run.ID && next.Progress == cur.Progress && !next.Canceled {
				// Nothing was recorded (the broker is unreachable):
				// try again in a moment rather than spin.
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// execute sends the slices of rs's run from its recorded progress on, and
// returns when the run is through, canceled or superseded, or ctx ends.
func (s *Service) execute(ctx context.Context, rs *plan.RunState) {
	run := rs.Run
	skipped := rs.Progress.Skipped
	if rs.Progress.Next > 0 {
		s.log.Info("generator: resuming a run", "run", run.ID, "slice", rs.Progress.Next, "of", run.Slices(), "previous_runner", rs.Progress.Runner)
	}
	for j := rs.Progress.Next; j < run.Slices(); j++ {
		if !s.waitSlice(ctx, run.ID, run.SliceMs(j)) {
			return
		}
		if time.Now().UnixMilli() >= s.giveUpMs(run, j) {
			n := run.SliceTotal(j)
			skipped += n
			s.m.skipped.Add(float64(n))
		} else {
			failed := s.sendSlice(ctx, run, j)
			if ctx.Err() != nil {
				return // not recorded: the next runner sends the slice again
			}
			skipped += failed
		}
		s.recordProgress(ctx, run.ID, j+1, skipped)
	}
}

// waitSlice waits until atMs; it returns false when ctx ends or the run is
// no longer the current, uncanceled one.
func (s *Service) waitSlice(ctx context.Context, runID string, atMs int64) bool {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		cur, changed := s.snapshot()
		if cur == nil || cur.Run.ID != runID || cur.Canceled {
			return false
		}
		d := time.Until(time.UnixMilli(atMs))
		if d <= 0 {
			return true
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-changed:
			timer.Stop()
		case <-timer.C:
			return true
		}
	}
}

// sendSlice sends the likes of slice j of every video, retrying failures
// until the slice is too late, and returns how many likes it gave up on.
func (s *Service) sendSlice(ctx context.Context, run plan.Run, j int) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	at := time.UnixMilli(run.SliceMs(j))
	giveUp := s.giveUpMs(run, j)
	for v, vid := range run.Videos {
		n := run.SliceLikes(j, v)
		if n == 0 {
			continue
		}
		wg.Go(func() {
			l := ingest.Likes{VideoID: vid.ID, Count: n, Time: at, IdempotencyKey: run.IdempotencyKey(j)}
			backoff := 100 * time.Millisecond
			for {
				err := s.sink.Send(ctx, l)
				if err == nil {
					s.m.sent.Add(float64(n))
					return
				}
				s.m.sendErrors.Inc()
				if ctx.Err() != nil || time.Now().UnixMilli() >= giveUp {
					failed.Add(int64(n))
					if ctx.Err() == nil {
						s.m.skipped.Add(float64(n))
						s.log.Warn("generator: likes not sent in time; skipped", "run", run.ID, "video", vid.ID, "likes", n, "err", err)
					}
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 2*time.Second)
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// giveUpMs returns when slice j of run is too late to send: its window has
// closed, the workers would not count its likes.
func (s *Service) giveUpMs(run plan.Run, j int) int64 {
	return run.StepEndMs(j) + s.cfg.Grace.Milliseconds()
}

// recordProgress writes the run's progress; a failure is only logged (the
// next record carries it, and a new runner would resend idempotent likes).
func (s *Service) recordProgress(ctx context.Context, runID string, next, skipped int) {
	b, _ := json.Marshal(plan.Progress{Next: next, Skipped: skipped, Runner: s.cfg.Instance, AtMs: time.Now().UnixMilli()})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.kv.Put(ctx, []byte(plan.ProgressKey(runID)), b); err != nil && ctx.Err() == nil {
		s.log.Warn("generator: progress not recorded", "run", runID, "err", err)
	}
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
