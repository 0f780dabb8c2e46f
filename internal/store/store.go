// Package store keeps the workers' window state in a local Pebble database,
// one per worker, with the state of each partition under its own key prefix
// (see keys.go). It also records, in the same atomic batch as the data, the
// changelog offset the state of each partition reflects, so that a restart
// replays only the changelog tail.
package store

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"

	"github.com/counter-dev/counter/internal/watermark"
	"github.com/counter-dev/counter/internal/window"
)

// Store is a worker's local state database.
type Store struct {
	db *pebble.DB
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, log *slog.Logger) (*Store, error) {
	opts := &pebble.Options{
		Logger: pebbleLogger{log},
		// The WAL stays on: a process crash then loses nothing that was
		// committed. It is not synced (the changelog in Kafka is the
		// durable copy; a lost tail is replayed from it).
		Cache: pebble.NewCache(64 << 20),
		// A large memtable absorbs the rewrites of the counts of open
		// windows (every transaction rewrites the counts it changed):
		// with the default 4 MiB, flushes and compactions of those
		// versions took 35% of the pipeline's CPU, with 64 MiB 5%.
		MemTableSize: 64 << 20,
	}
	defer opts.Cache.Unref()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening state store %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Close flushes and closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Get returns the value of key, or ok=false when absent.
func (s *Store) Get(key []byte) (val []byte, ok bool, err error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	val = append([]byte(nil), v...)
	return val, true, closer.Close()
}

// Count returns the stored count of a count key (0 when absent).
func (s *Store) Count(key []byte) (uint64, error) {
	v, ok, err := s.Get(key)
	if err != nil || !ok {
		return 0, err
	}
	c, good := DecodeUint64(v)
	if !good {
		return 0, fmt.Errorf("corrupt count under key %x", key)
	}
	return c, nil
}

// Int returns the int64 stored under key (0 when absent).
func (s *Store) Int(key []byte) (int64, error) {
	v, ok, err := s.Get(key)
	if err != nil || !ok {
		return 0, err
	}
	n, good := DecodeInt64(v)
	if !good {
		return 0, fmt.Errorf("corrupt value under key %x", key)
	}
	return n, nil
}

// ChangelogNext returns the offset of the first changelog record of
// partition p that the store does not reflect yet (0 for a new partition).
func (s *Store) ChangelogNext(p int32) (int64, error) {
	v, ok, err := s.Get(offsetKey(p))
	if err != nil || !ok {
		return 0, err
	}
	off, good := DecodeInt64(v)
	if !good {
		return 0, fmt.Errorf("corrupt changelog offset of partition %d", p)
	}
	return off, nil
}

// Scan calls fn for each key in [lower, upper) in order. The slices passed
// to fn are only valid during the call.
func (s *Store) Scan(lower, upper []byte, fn func(k, v []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

// ScanWindow calls fn with each video id and count of window w of
// partition p.
func (s *Store) ScanWindow(p int32, w window.Window, fn func(id []byte, count uint64) error) error {
	lo, hi := WindowRange(p, w)
	return s.Scan(lo, hi, func(k, v []byte) error {
		_, _, id, _ := ParseCountKey(k)
		c, ok := DecodeUint64(v)
		if !ok {
			return fmt.Errorf("corrupt count under key %x", k)
		}
		return fn(id, c)
	})
}

// Windows lists the windows of partition p that hold at least one count. It
// seeks from window to window instead of reading every key.
func (s *Store) Windows(p int32) ([]window.Window, error) {
	lo := append(appendPartition(nil, p), kindCount)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []window.Window
	for ok := it.First(); ok; {
		_, w, _, good := ParseCountKey(it.Key())
		if !good {
			return nil, fmt.Errorf("corrupt count key %x", it.Key())
		}
		out = append(out, w)
		_, next := WindowRange(p, w)
		ok = it.SeekGE(next)
	}
	return out, it.Error()
}

// CountKeys returns how many counts partition p holds.
func (s *Store) CountKeys(p int32) (int64, error) {
	lo := append(appendPartition(nil, p), kindCount)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return 0, err
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		it.Close()
		return 0, err
	}
	return n, it.Close()
}

// Watermarks returns the per-source watermarks stored for partition p.
func (s *Store) Watermarks(p int32) (map[int32]watermark.Mark, error) {
	lo := append(appendPartition(nil, p), kindWatermark)
	out := map[int32]watermark.Mark{}
	err := s.Scan(lo, prefixEnd(lo), func(k, v []byte) error {
		src, ok1 := ParseWatermarkKey(k)
		m, ok2 := DecodeSourceMark(v)
		if !ok1 || !ok2 {
			return fmt.Errorf("corrupt watermark entry %x", k)
		}
		out[src] = m
		return nil
	})
	return out, err
}

// DropPartition deletes all state of partition p, its changelog offset too.
func (s *Store) DropPartition(p int32) error {
	lo := appendPartition(nil, p)
	return s.db.DeleteRange(lo, prefixEnd(lo), pebble.NoSync)
}

// Batch is a set of writes applied atomically by Commit.
type Batch struct {
	b *pebble.Batch
}

// NewBatch starts a batch.
func (s *Store) NewBatch() *Batch { return &Batch{b: s.db.NewBatch()} }

// Set stores key=value.
func (b *Batch) Set(key, value []byte) error { return b.b.Set(key, value, nil) }

// Delete removes key.
func (b *Batch) Delete(key []byte) error { return b.b.Delete(key, nil) }

// DeleteWindow removes every count of window w of partition p.
func (b *Batch) DeleteWindow(p int32, w window.Window) error {
	lo, hi := WindowRange(p, w)
	return b.b.DeleteRange(lo, hi, nil)
}

// SetChangelogNext records that partition p's state reflects the changelog
// up to (not including) offset next.
func (b *Batch) SetChangelogNext(p int32, next int64) error {
	return b.b.Set(offsetKey(p), EncodeInt64(next), nil)
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return int(b.b.Count()) }

// Commit applies the batch atomically and releases it.
func (b *Batch) Commit() error {
	defer b.b.Close()
	return b.b.Commit(pebble.NoSync)
}

// Discard releases the batch without applying it.
func (b *Batch) Discard() { b.b.Close() }

// pebbleLogger routes Pebble's messages to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
	panic(fmt.Sprintf(format, args...))
}
