package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

func TestCountKeyRoundTripAndOrder(t *testing.T) {
	w := window.Window{Size: 2000, Start: -4000}
	k := CountKey(nil, 7, w, []byte("vid"))
	p, w2, id, ok := ParseCountKey(k)
	if !ok || p != 7 || w2 != w || string(id) != "vid" {
		t.Fatalf("got %d %+v %q %v", p, w2, id, ok)
	}
	a := CountKey(nil, 1, window.Window{Size: 2000, Start: -2000}, []byte("z"))
	b := CountKey(nil, 1, window.Window{Size: 2000, Start: 0}, []byte("a"))
	c := CountKey(nil, 1, window.Window{Size: 4000, Start: -8000}, []byte("a"))
	if !(bytes.Compare(a, b) < 0 && bytes.Compare(b, c) < 0) {
		t.Fatal("keys do not sort by (size, start)")
	}
	if _, _, _, ok := ParseCountKey(WatermarkKey(1, 2)); ok {
		t.Fatal("watermark key parsed as a count key")
	}
	if src, ok := ParseWatermarkKey(WatermarkKey(1, 2)); !ok || src != 2 {
		t.Fatal("watermark key round trip")
	}
	if sk := StateKey(7, ChangelogKey(k)); !bytes.Equal(sk, k) || PartitionOf(sk) != 7 {
		t.Fatal("changelog key round trip")
	}
}

func TestStoreBatchesWindowsAndDrop(t *testing.T) {
	s, err := Open(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w1 := window.Window{Size: 2000, Start: 0}
	w2 := window.Window{Size: 2000, Start: 2000}
	w3 := window.Window{Size: 4000, Start: 0}
	b := s.NewBatch()
	for _, w := range []window.Window{w1, w2, w3} {
		for _, id := range []string{"a", "b", "c"} {
			b.Set(CountKey(nil, 3, w, []byte(id)), EncodeUint64(uint64(len(id)+int(w.Start))))
		}
	}
	b.Set(CountKey(nil, 4, w1, []byte("other")), EncodeUint64(1))
	b.Set(WatermarkKey(3, 0), EncodeSourceMark(watermark.Mark{Watermark: 1234, Sources: 6}))
	b.SetChangelogNext(3, 42)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	// A discarded batch changes nothing.
	d := s.NewBatch()
	d.Set(CountKey(nil, 3, w1, []byte("a")), EncodeUint64(999))
	d.Discard()
	if c, _ := s.Count(CountKey(nil, 3, w1, []byte("a"))); c != 1 {
		t.Fatalf("count = %d", c)
	}
	ws, err := s.Windows(3)
	if err != nil || len(ws) != 3 || ws[0] != w1 || ws[1] != w2 || ws[2] != w3 {
		t.Fatalf("windows = %+v %v", ws, err)
	}
	var ids []string
	s.ScanWindow(3, w2, func(id []byte, c uint64) error { ids = append(ids, string(id)); return nil })
	if len(ids) != 3 {
		t.Fatalf("window scan = %v", ids)
	}
	if n, _ := s.ChangelogNext(3); n != 42 {
		t.Fatalf("changelog next = %d", n)
	}
	if wm, _ := s.Watermarks(3); wm[0] != (watermark.Mark{Watermark: 1234, Sources: 6}) {
		t.Fatalf("watermarks = %v", wm)
	}
	del := s.NewBatch()
	del.DeleteWindow(3, w2)
	del.Commit()
	if ws, _ := s.Windows(3); len(ws) != 2 {
		t.Fatalf("after delete windows = %+v", ws)
	}
	if err := s.DropPartition(3); err != nil {
		t.Fatal(err)
	}
	if ws, _ := s.Windows(3); len(ws) != 0 {
		t.Fatalf("after drop windows = %+v", ws)
	}
	if n, _ := s.ChangelogNext(3); n != 0 {
		t.Fatal("drop kept the changelog offset")
	}
	if ws, _ := s.Windows(4); len(ws) != 1 {
		t.Fatal("drop touched another partition")
	}
}

func TestDedupRecord(t *testing.T) {
	var d Dedup
	d.First = 42
	d = d.With(0).With(9).With(3)
	for i := 0; i < 20; i++ {
		if want := i == 0 || i == 9 || i == 3; d.Has(i) != want {
			t.Errorf("Has(%d) = %v", i, d.Has(i))
		}
	}
	got, ok := DecodeDedup(EncodeDedup(d))
	if !ok || got.First != 42 || !got.Has(9) || got.Has(8) {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	if _, ok := DecodeDedup([]byte{1}); ok {
		t.Fatal("short value accepted")
	}
	lo, hi := DedupRange(3)
	k := DedupKey(nil, 3, []byte("video"), []byte("key"))
	if !(bytes.Compare(lo, k) <= 0 && bytes.Compare(k, hi) < 0) || PartitionOf(k) != 3 {
		t.Fatal("dedup key outside its range")
	}
}

// Below the free-space reserve every write of the store is refused with an
// error matching ENOSPC (the worker's supervisor stops on it) and nothing is
// written; with space back, writes go through.
func TestKeepFreeRefusesWritesBelowTheReserve(t *testing.T) {
	s, err := Open(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var free atomic.Uint64
	free.Store(10 << 20)
	s.KeepFree(100<<20, func(string) (uint64, error) { return free.Load(), nil })
	b := s.NewBatch()
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit below the reserve: %v, want a refusal matching ENOSPC", err)
	}
	if _, ok, _ := s.Get([]byte("k")); ok {
		t.Fatal("a refused batch was written")
	}
	if l, err := s.NewLoader(); err != nil {
		t.Fatal(err)
	} else if _, _, err := l.Finish(context.Background(), 0, 1); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("bulk load below the reserve: %v", err)
	}
	free.Store(1 << 30)
	// The guard trusts a reading for a quarter second: the space is seen
	// back within that.
	for deadline := time.Now().Add(5 * time.Second); ; {
		b = s.NewBatch()
		b.Set([]byte("k"), []byte("v"))
		err := b.Commit()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("space back, writes still refused: %v", err)
		}
	}
	if _, ok, _ := s.Get([]byte("k")); !ok {
		t.Fatal("write lost")
	}
}
