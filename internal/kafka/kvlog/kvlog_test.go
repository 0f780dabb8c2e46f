package kvlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/testkit"
)

// table is a map built by Apply.
type table struct {
	mu   sync.Mutex
	m    map[string]string
	keys []string // in the order of first appearance
}

func (t *table) apply(r Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]string{}
	}
	if r.Value == nil {
		delete(t.m, string(r.Key))
		return
	}
	if _, ok := t.m[string(r.Key)]; !ok {
		t.keys = append(t.keys, string(r.Key))
	}
	t.m[string(r.Key)] = string(r.Value)
}

func (t *table) get(k string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[k]
	return v, ok
}

func open(t *testing.T, brokers []string, tab *table) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Open(ctx, Config{Brokers: brokers, Topic: "kv", Apply: tab.apply, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func TestReadYourWritesAndReplicas(t *testing.T) {
	brokers := testkit.StartBroker(t)
	var a, b table
	la := open(t, brokers, &a)
	lb := open(t, brokers, &b)
	ctx := context.Background()
	for i := range 20 {
		if _, err := la.Put(ctx, []byte(fmt.Sprint("k", i%5)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		// Read your writes: applied locally before Put returns.
		if v, _ := a.get(fmt.Sprint("k", i%5)); v != fmt.Sprint(i) {
			t.Fatalf("after Put %d, local value %q", i, v)
		}
	}
	off, err := lb.Put(ctx, []byte("k0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Wait(ctx, off+1); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.get("k0"); ok {
		t.Fatal("tombstone not applied by the other reader")
	}
	if v, _ := b.get("k4"); v != "19" {
		t.Fatalf("replica has k4=%q", v)
	}

	// A new reader starts with everything written so far.
	var c table
	open(t, brokers, &c)
	if fmt.Sprint(c.m) != fmt.Sprint(a.m) || len(c.keys) != 5 {
		t.Fatalf("late reader has %v (keys %v), want %v", c.m, c.keys, a.m)
	}
}

func TestClosed(t *testing.T) {
	brokers := testkit.StartBroker(t)
	var a table
	l := open(t, brokers, &a)
	l.Close()
	if _, err := l.Put(context.Background(), []byte("k"), []byte("v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := l.Wait(context.Background(), 1_000); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
}

func TestOpenNeedsConfig(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); err == nil {
		t.Fatal("Open without config succeeded")
	}
}
