package videos

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
	"github.com/counter-dev/counter/internal/testkit"
)

func open(t *testing.T, brokers []string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{Brokers: brokers, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestSeedAddShare(t *testing.T) {
	brokers := testkit.StartBroker(t)
	// Two instances starting together both seed; the catalog is the samples once.
	var a, b *Store
	var wg sync.WaitGroup
	wg.Go(func() { a = open(t, brokers) })
	wg.Go(func() { b = open(t, brokers) })
	wg.Wait()
	if !slices.Equal(a.List(), catalog.Samples()) {
		t.Fatalf("seeded catalog %v", a.List())
	}
	ctx := context.Background()
	v, created, err := a.Add(ctx, "  Rain on a tin roof ", "")
	if err != nil || !created {
		t.Fatal(err, created)
	}
	if v.Title != "Rain on a tin roof" || videoid.ValidateString(v.ID) != nil {
		t.Fatalf("added %+v", v)
	}
	if got := a.List(); got[len(got)-1] != v {
		t.Fatalf("not read back at once: %v", got[len(got)-1])
	}
	waitFor(t, func() bool { title, ok := b.Title(v.ID); return ok && title == v.Title })

	// A retried request with the same key adds nothing.
	v1, created1, err := b.Add(ctx, "Kites", "key-1")
	if err != nil || !created1 {
		t.Fatal(err)
	}
	v2, created2, err := b.Add(ctx, "Kites", "key-1")
	if err != nil || created2 || v2 != v1 {
		t.Fatalf("retry: %+v created=%v err=%v", v2, created2, err)
	}
	if _, _, err := b.Add(ctx, "Other", "key-1"); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("key reused for another title: %v", err)
	}
	if _, _, err := b.Add(ctx, "", ""); !errors.Is(err, catalog.ErrBadTitle) {
		t.Fatalf("empty title: %v", err)
	}
	if n := len(b.List()); n != len(catalog.Samples())+2 {
		t.Fatalf("%d videos", n)
	}

	// A restarted instance does not seed again and sees every video.
	c := open(t, brokers)
	if !slices.Equal(c.List(), b.List()) {
		t.Fatalf("restarted: %v\nwant %v", c.List(), b.List())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIDs(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[48][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewID(), NewID()
	if a == b || !uuid.MatchString(a) || a[14] != '4' {
		t.Fatalf("NewID: %s %s", a, b)
	}
	k := IDForKey("x")
	if k != IDForKey("x") || k == IDForKey("y") || !uuid.MatchString(k) || k[14] != '8' {
		t.Fatalf("IDForKey: %s", k)
	}
}
