package worker

import (
	"fmt"
	"testing"
)

func TestCombinerGroupsByVideoAndStep(t *testing.T) {
	c := newCombiner(60_000) // windows 1m, 5m, ...: one step is a minute
	copyID := func(b []byte) []byte { return append([]byte(nil), b...) }
	add := func(id string, ts int64) { c.add([]byte(id), ts, copyID) }
	add("a", 60_000)  // minute 1
	add("b", 61_000)  // minute 1
	add("a", 119_999) // minute 1: combined with the first
	add("a", 120_000) // minute 2: a record of its own
	add("a", 90_000)  // minute 1 again, out of order: combined, keeps the latest time
	add("b", -1)      // before the epoch: minute -1
	add("b", -60_000) // minute -1
	add("b", -60_001) // minute -2

	got := ""
	for _, l := range c.likes {
		got += fmt.Sprintf("%s:%d@%d ", l.id, l.n, l.ts)
	}
	want := "a:3@119999 b:1@61000 a:1@120000 b:2@-1 b:1@-60001 "
	if got != want {
		t.Fatalf("combined likes\n got %s\nwant %s", got, want)
	}
}

func TestCombinerCopiesIDs(t *testing.T) {
	c := newCombiner(1000)
	buf := []byte("first")
	c.add(buf, 0, func(b []byte) []byte { return append([]byte(nil), b...) })
	copy(buf, "xxxxx") // the input record's memory may be reused
	if string(c.likes[0].id) != "first" {
		t.Fatalf("id changed with its input buffer: %q", c.likes[0].id)
	}
}
