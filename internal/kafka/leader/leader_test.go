package leader

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/testkit"
)

// candidate runs one member of the election.
type candidate struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// recorder notes who leads, and checks that two never lead at once.
type recorder struct {
	mu      sync.Mutex
	leading map[string]bool
	terms   []string
	overlap atomic.Bool
}

func (r *recorder) lead(name string) func(context.Context) {
	return func(ctx context.Context) {
		r.mu.Lock()
		for other, on := range r.leading {
			if on && other != name {
				r.overlap.Store(true)
			}
		}
		r.leading[name] = true
		r.terms = append(r.terms, name)
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		r.leading[name] = false
		r.mu.Unlock()
	}
}

func (r *recorder) leader() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, on := range r.leading {
		if on {
			return n
		}
	}
	return ""
}

func TestOneLeaderAndHandover(t *testing.T) {
	brokers := testkit.StartBroker(t)
	rec := &recorder{leading: map[string]bool{}}
	cfg := Config{Brokers: brokers, Group: "g", Topic: "election", SessionTimeout: time.Second, Logger: testkit.Logger()}
	start := func(name string) *candidate {
		ctx, cancel := context.WithCancel(context.Background())
		c := &candidate{name: name, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			if err := Run(ctx, cfg, rec.lead(name)); err != context.Canceled {
				t.Errorf("%s: %v", name, err)
			}
		}()
		return c
	}
	cands := map[string]*candidate{}
	for i := range 3 {
		n := fmt.Sprint("c", i)
		cands[n] = start(n)
	}
	defer func() {
		for _, c := range cands {
			c.cancel()
			<-c.done
		}
	}()
	waitLeader := func(not string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if l := rec.leader(); l != "" && l != not {
				return l
			}
			if time.Now().After(deadline) {
				t.Fatal("no leader elected in 15s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	first := waitLeader("")
	time.Sleep(500 * time.Millisecond) // rebalances as the others join
	if l := rec.leader(); l == "" {
		t.Fatal("no leader after the others joined")
	}
	// The leader leaves: another takes over.
	cur := rec.leader()
	cands[cur].cancel()
	<-cands[cur].done
	delete(cands, cur)
	second := waitLeader(cur)
	if second == cur {
		t.Fatal("same leader")
	}
	if rec.overlap.Load() {
		t.Fatalf("two leaders at once; terms %v (first %s)", rec.terms, first)
	}
}

func TestRunNeedsConfig(t *testing.T) {
	if err := Run(context.Background(), Config{}, nil); err == nil {
		t.Fatal("Run without config")
	}
}
