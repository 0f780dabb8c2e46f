package generator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/apinode/generator/plan"
	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/testkit"
)

// sent is one Send call that succeeded.
type sent struct {
	by string
	l  ingest.Likes
}

// recorder is the likes sink shared by the instances of a test.
type recorder struct {
	mu    sync.Mutex
	sends []sent
	fail  bool
}

func (r *recorder) all() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.sends...)
}

// sinkOf is the sink of one instance.
type sinkOf struct {
	r    *recorder
	name string
}

func (s sinkOf) Send(_ context.Context, l ingest.Likes) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.fail {
		return ingest.ErrUnavailable
	}
	s.r.sends = append(s.r.sends, sent{s.name, l})
	return nil
}

func open(t *testing.T, brokers []string, name string, rec *recorder, stepMs int64, onStatus func(json.RawMessage)) *Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{Brokers: brokers, StepMs: stepMs, Instance: name, SessionTimeout: time.Second, OnStatus: onStatus, Logger: testkit.Logger().With("instance", name)}, sinkOf{rec, name})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func request(t *testing.T, body string) plan.Request {
	t.Helper()
	req, err := plan.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func waitState(t *testing.T, s *Service, state string, timeout time.Duration) plan.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, ok := s.Status()
		if ok && st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("run not %s after %v: %+v", state, timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkSends checks that the likes sent cover the run's schedule exactly
// once per (video, key, index), each inside its step, and returns how many
// likes were sent more than once.
func checkSends(t *testing.T, sends []sent, st plan.Status) (dups int) {
	t.Helper()
	start, _ := time.Parse(time.RFC3339Nano, st.Start)
	perStep := map[string][]int{}
	seen := map[string]bool{}
	for _, s := range sends {
		step := int(s.l.Time.Sub(start) / (time.Duration(st.StepMs) * time.Millisecond))
		if step < 0 || step >= plan.Steps {
			t.Fatalf("likes at %v, outside the run starting %v", s.l.Time, start)
		}
		if perStep[s.l.VideoID] == nil {
			perStep[s.l.VideoID] = make([]int, plan.Steps)
		}
		for i := range s.l.Count {
			k := fmt.Sprint(s.l.VideoID, "/", s.l.IdempotencyKey, "/", i)
			if seen[k] {
				dups++
				continue
			}
			seen[k] = true
			perStep[s.l.VideoID][step]++
		}
	}
	for id, want := range st.Videos {
		if fmt.Sprint(perStep[id]) != fmt.Sprint(want) {
			t.Errorf("video %s: counted per step %v, want %v", id, perStep[id], want)
		}
	}
	return dups
}

func TestRunSendsTheSchedule(t *testing.T) {
	brokers := testkit.StartBroker(t)
	rec := &recorder{}
	var statusMu sync.Mutex
	var states []string
	s := open(t, brokers, "api-1", rec, 200, func(b json.RawMessage) {
		var st plan.Status
		_ = json.Unmarshal(b, &st)
		statusMu.Lock()
		states = append(states, st.State)
		statusMu.Unlock()
	})
	defer s.Close()
	if _, ok := s.Status(); ok {
		t.Fatal("status before any run")
	}
	ctx := context.Background()
	st, err := s.Start(ctx, request(t, `{"videos":{"a":[1,2,3,4,5,6,7,8,9,10],"b":[0,0,0,0,0,0,0,0,0,3]}}`))
	if err != nil {
		t.Fatal(err)
	}
	// Scheduled, or already running if writing the request took until the
	// next step boundary.
	if (st.State != plan.StateScheduled && st.State != plan.StateRunning) || st.LikesTotal != 58 || st.StepMs != 200 {
		t.Fatalf("start status %+v", st)
	}
	if _, err := s.Start(ctx, request(t, `{"videos":{"a":[1,1,1,1,1,1,1,1,1,1]}}`)); !errors.Is(err, plan.ErrRunActive) {
		t.Fatalf("second start: %v", err)
	}
	done := waitState(t, s, plan.StateDone, 10*time.Second)
	if done.LikesSent != 58 || done.StepsDone != 10 || done.Runner != "api-1" {
		t.Fatalf("done status %+v", done)
	}
	if dups := checkSends(t, rec.all(), done); dups != 0 {
		t.Fatalf("%d likes sent twice", dups)
	}
	statusMu.Lock()
	if len(states) < 10 || (states[0] != plan.StateScheduled && states[0] != plan.StateRunning) || states[len(states)-1] != plan.StateDone {
		t.Errorf("pushed states %v", states)
	}
	statusMu.Unlock()

	// Cancel: nothing more is sent; a new run can start.
	if _, err := s.Cancel(ctx); !errors.Is(err, plan.ErrNoActiveRun) {
		t.Fatalf("cancel with no run: %v", err)
	}
	n := len(rec.all())
	if _, err := s.Start(ctx, request(t, `{"videos":{"a":[5,5,5,5,5,5,5,5,5,5]}}`)); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, plan.StateRunning, 5*time.Second)
	c, err := s.Cancel(ctx)
	if err != nil || c.State != plan.StateCanceled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	time.Sleep(300 * time.Millisecond)
	m := len(rec.all())
	time.Sleep(500 * time.Millisecond)
	if len(rec.all()) != m || m <= n {
		t.Fatalf("sends: %d before, %d after cancel, %d later", n, m, len(rec.all()))
	}
}

func TestOneRunnerAndHandover(t *testing.T) {
	brokers := testkit.StartBroker(t)
	rec := &recorder{}
	a := open(t, brokers, "api-a", rec, 300, nil)
	b := open(t, brokers, "api-b", rec, 300, nil)
	defer b.Close()
	closedA := false
	defer func() {
		if !closedA {
			a.Close()
		}
	}()
	time.Sleep(500 * time.Millisecond) // let the election settle

	// Concurrent requests on both instances: exactly one wins.
	ctx := context.Background()
	var errA, errB error
	var stA, stB plan.Status
	var wg sync.WaitGroup
	wg.Go(func() { stA, errA = a.Start(ctx, request(t, `{"videos":{"x":[3,3,3,3,3,3,3,3,3,3]}}`)) })
	wg.Go(func() { stB, errB = b.Start(ctx, request(t, `{"videos":{"y":[3,3,3,3,3,3,3,3,3,3]}}`)) })
	wg.Wait()
	if (errA == nil) == (errB == nil) {
		t.Fatalf("both or neither accepted: %v / %v", errA, errB)
	}
	won := stA
	if errA != nil {
		won = stB
	}
	if stA.ID != won.ID || stB.ID != won.ID {
		t.Fatalf("the loser does not report the winning run: %s %s %s", stA.ID, stB.ID, won.ID)
	}

	// Midway, the runner goes away; the other instance finishes the run.
	waitState(t, a, plan.StateRunning, 5*time.Second)
	time.Sleep(time.Second)
	runner := a
	other := b
	if st, _ := b.Status(); st.Runner == "api-b" {
		runner, other = b, a
	}
	runner.Close()
	if runner == a {
		closedA = true
	}
	done := waitState(t, other, plan.StateDone, 15*time.Second)
	if done.LikesSent+done.LikesSkipped != 30 {
		t.Fatalf("done status %+v", done)
	}
	sends := rec.all()
	if dups := checkSends(t, sends, done); dups > 3 {
		t.Fatalf("%d likes sent twice; at most the slice in flight may be", dups)
	}
	by := map[string]int{}
	for _, s := range sends {
		by[s.by] += s.l.Count
	}
	if len(by) != 2 {
		t.Fatalf("likes by instance %v: want both, one after the other", by)
	}
}

func TestSendFailuresAreRetried(t *testing.T) {
	brokers := testkit.StartBroker(t)
	rec := &recorder{fail: true}
	s := open(t, brokers, "api-1", rec, 1000, nil)
	defer s.Close()
	if _, err := s.Start(context.Background(), request(t, `{"videos":{"a":[10,10,10,10,10,10,10,10,10,10]}}`)); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, plan.StateRunning, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	rec.mu.Lock()
	rec.fail = false
	rec.mu.Unlock()
	// The broker is back within the step: nothing is lost.
	time.Sleep(700 * time.Millisecond)
	st, _ := s.Status()
	if st.LikesSkipped != 0 || st.LikesSent < 10 {
		t.Fatalf("after recovery: %+v", st)
	}
	if _, err := s.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
}
