package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/worker"
	"github.com/counter-dev/counter/internal/worker/idguard"
)

// Supervision of a worker inside its process: a failed worker is started
// again — a new transactional producer, a new group member, a restore of the
// changelog tail — which is how it rides out a broker restart or a fenced
// producer without an outside supervisor.
const (
	restartFirstBackoff = time.Second
	restartMaxBackoff   = 30 * time.Second
	// healthyRun is how long a worker must have run for its next failure
	// to start a new streak (and the back-off to start over).
	healthyRun = time.Minute
)

// supervisor runs one worker configuration until its context ends.
type supervisor struct {
	cfg worker.Config
	log *slog.Logger
	// giveUp ends supervision when the worker has failed without a
	// healthy run for this long (0: never).
	giveUp time.Duration
	// checkID, when set, makes sure before each start that no other live
	// worker uses the same id (idguard): counter worker sets it.
	checkID bool
	current atomic.Pointer[worker.Worker]
}

// Ready reports whether the running worker is ready.
func (s *supervisor) Ready() bool {
	w := s.current.Load()
	return w != nil && w.Ready()
}

// run runs the worker until ctx ends (nil), or a failure that a restart
// cannot mend (worker.Permanent), or failures for longer than giveUp.
func (s *supervisor) run(ctx context.Context) error {
	backoff := restartFirstBackoff
	var streak time.Time // when the current run of failures began
	fenced := false      // the last run ended with its producer fenced
	for ctx.Err() == nil {
		began := time.Now()
		err := s.waitForID(ctx, fenced)
		if err == nil {
			var w *worker.Worker
			if w, err = worker.New(ctx, s.cfg); err == nil {
				s.current.Store(w)
				err = w.Run(ctx)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil { // Run returns nil only when ctx ends
			err = fmt.Errorf("worker stopped")
		}
		var dup *idguard.DuplicateError
		if worker.Permanent(err) || kafkaconn.Permanent(err) || errors.As(err, &dup) {
			return err
		}
		fenced = idguard.Fenced(err)
		if time.Since(began) > healthyRun || streak.IsZero() {
			streak, backoff = began, restartFirstBackoff
		}
		if s.giveUp > 0 && time.Since(streak) > s.giveUp {
			return fmt.Errorf("worker %s failing for %v, giving up: %w", s.cfg.ID, time.Since(streak).Round(time.Second), err)
		}
		s.log.Error("worker failed; starting it again", "worker", s.cfg.ID, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, restartMaxBackoff)
	}
	return nil
}

// waitForID returns once no other live worker of the group uses this
// worker's id (idguard.Wait; strict after a fence), at once without
// checkID.
func (s *supervisor) waitForID(ctx context.Context, fenced bool) error {
	if !s.checkID {
		return nil
	}
	cl, err := kafkaconn.NewClient(s.cfg.Brokers, s.cfg.KafkaOpts, kgo.WithLogger(kafkalog.New(s.log)))
	if err != nil {
		return err
	}
	defer cl.Close()
	return idguard.Wait(ctx, kadm.NewClient(cl), idguard.Config{
		Group: s.cfg.Group, ID: s.cfg.ID, SessionTimeout: s.cfg.SessionTimeout, Logger: s.log,
	}, fenced)
}
