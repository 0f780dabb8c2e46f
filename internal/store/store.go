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
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"

	"github.com/counter-dev/counter/internal/disk/diskspace"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Store is a worker's local state database.
type Store struct {
	db    *pebble.DB
	opts  *pebble.Options // as opened, for the sstables a Loader writes
	dir   string
	guard *diskspace.Guard // refuses writes below the free-space reserve; nil: none
}

// CheckFree returns a *diskspace.LowError while the free space is below the
// reserve of KeepFree (nil without one).
func (s *Store) CheckFree() error { return s.guard.Check() }

// KeepFree makes every write of the store (batches, bulk loads) fail with a
// *diskspace.LowError while the free space of its filesystem is below
// reserve bytes (0: no reserve): the worker stops cleanly before Pebble
// meets ENOSPC in a flush or a WAL write, which it cannot recover from.
func (s *Store) KeepFree(reserve uint64, free func(dir string) (uint64, error)) {
	g := diskspace.NewGuard(s.dir, reserve)
	if free != nil {
		g.WithFree(free)
	}
	s.guard = g
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
	opts.EnsureDefaults()
	defer opts.Cache.Unref()
	// A restore that was cut short leaves its scratch files behind.
	if err := os.RemoveAll(filepath.Join(dir, loaderDir)); err != nil {
		return nil, fmt.Errorf("removing restore scratch files: %w", err)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening state store %s: %w", dir, err)
	}
	return &Store{db: db, opts: opts, dir: dir}, nil
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

// scanKeyCount counts partition p's counts by reading all of them: what
// KeyCount falls back to for a store written before it kept the number, and
// a check for tests.
func (s *Store) scanKeyCount(p int32) (int64, error) {
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

// KeyCount returns how many counts partition p holds. The number is kept in
// the store, in the same batches as the counts (see Batch.AddKeys and
// Batch.Replay), so this is one read; only a partition written before the
// store kept it is counted once with a scan, and the result stored. Nothing
// may write partition p's state while KeyCount runs.
func (s *Store) KeyCount(p int32) (int64, error) {
	n, _, known, err := s.storedKeyCount(p)
	if err != nil || known {
		return n, err
	}
	if n, err = s.scanKeyCount(p); err != nil {
		return 0, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Set(KeyCountKey(p), EncodeInt64(n), nil); err != nil {
		return 0, err
	}
	return n, b.Commit(pebble.NoSync)
}

// storedKeyCount returns the key count of partition p and whether it is
// stored. known is false when the store holds state of p (a changelog
// offset) but no count: a partition written before the store kept one. A
// partition without an offset has no counts.
func (s *Store) storedKeyCount(p int32) (n int64, stored, known bool, err error) {
	v, ok, err := s.Get(KeyCountKey(p))
	if err != nil {
		return 0, false, false, err
	}
	if ok {
		n, good := DecodeInt64(v)
		if !good {
			return 0, false, false, fmt.Errorf("corrupt key count of partition %d", p)
		}
		return n, true, true, nil
	}
	_, hasOffset, err := s.Get(offsetKey(p))
	return 0, false, !hasOffset, err
}

// Empty reports whether the store holds nothing of partition p.
func (s *Store) Empty(p int32) (bool, error) {
	lo, hi := partitionRange(p)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, err
	}
	found := it.First()
	if err := it.Error(); err != nil {
		it.Close()
		return false, err
	}
	return !found, it.Close()
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
		m.Source = src
		out[src] = m
		return nil
	})
	return out, err
}

// DropPartition deletes all state of partition p, its changelog offset and
// key count too.
func (s *Store) DropPartition(p int32) error {
	lo, hi := partitionRange(p)
	return s.db.DeleteRange(lo, hi, pebble.NoSync)
}

// Batch is a set of writes applied atomically by Commit. With the writes it
// keeps the key count of each partition (see KeyCount): AddKeys takes the
// change from the caller, and Replay takes the key count from the
// changelog, where workers write it after the counts of each transaction.
// Batches that change the key count of the same partition must not be built
// and committed concurrently.
type Batch struct {
	s    *Store
	b    *pebble.Batch
	keys map[int32]*keyDelta // partitions whose key count the batch keeps
}

// keyDelta is the change a batch makes to a partition's key count.
type keyDelta struct {
	known  bool  // the count is kept (see storedKeyCount)
	stored bool  // the store holds it already
	base   int64 // the stored count
	delta  int64

	replayed bool // Replay wrote counts not followed by a key count
	counted  bool // Replay wrote a key count
}

// NewBatch starts a batch.
func (s *Store) NewBatch() *Batch { return &Batch{s: s, b: s.db.NewBatch()} }

// Set stores key=value. It does not change the key count: a caller that
// adds counts reports them with AddKeys.
func (b *Batch) Set(key, value []byte) error { return b.b.Set(key, value, nil) }

// Delete removes key. It does not change the key count (see Set).
func (b *Batch) Delete(key []byte) error { return b.b.Delete(key, nil) }

// DeleteWindow removes every count of window w of partition p. It does not
// change the key count (see Set).
func (b *Batch) DeleteWindow(p int32, w window.Window) error {
	lo, hi := WindowRange(p, w)
	return b.b.DeleteRange(lo, hi, nil)
}

// AddKeys adds delta to the key count of partition p: the counts the
// caller's Set, Delete and DeleteWindow calls created (positive) or removed
// (negative).
func (b *Batch) AddKeys(p int32, delta int64) error {
	d, err := b.keyDelta(p)
	if err != nil {
		return err
	}
	d.delta += delta
	return nil
}

// Replay applies changelog record (ck, value) of partition p: the state key
// gets the value, or is deleted when value is nil. The changelog carries
// the partition's key count (KeyCountKey) after the counts of each
// transaction, so the count follows without reading the store; counts
// replayed without a key count after them (a changelog written before
// workers wrote it, or a batch that ends inside a transaction, which the
// next batch completes) leave the count unknown until one comes. The
// changelog offset is local bookkeeping: a record of it is skipped.
func (b *Batch) Replay(p int32, ck, value []byte) error {
	if len(ck) == 1 && ck[0] == kindOffset {
		return nil
	}
	if len(ck) > 0 && (ck[0] == kindCount || ck[0] == kindKeys && len(ck) == 1) {
		d, err := b.keyDelta(p)
		if err != nil {
			return err
		}
		d.replayed = ck[0] == kindCount
		d.counted = d.counted || ck[0] == kindKeys
	}
	key := StateKey(p, ck)
	if value == nil {
		return b.b.Delete(key, nil)
	}
	return b.b.Set(key, value, nil)
}

// keyDelta returns the key count change of partition p, reading the stored
// count the first time.
func (b *Batch) keyDelta(p int32) (*keyDelta, error) {
	if d := b.keys[p]; d != nil {
		return d, nil
	}
	n, stored, known, err := b.s.storedKeyCount(p)
	if err != nil {
		return nil, err
	}
	d := &keyDelta{known: known, stored: stored, base: n}
	if b.keys == nil {
		b.keys = map[int32]*keyDelta{}
	}
	b.keys[p] = d
	return d, nil
}

// SetChangelogNext records that partition p's state reflects the changelog
// up to (not including) offset next.
func (b *Batch) SetChangelogNext(p int32, next int64) error {
	// A partition's first offset comes with its first key count.
	if _, err := b.keyDelta(p); err != nil {
		return err
	}
	return b.b.Set(offsetKey(p), EncodeInt64(next), nil)
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return int(b.b.Count()) }

// Size returns the encoded size of the batch in bytes.
func (b *Batch) Size() int { return b.b.Len() }

// Commit applies the batch atomically and releases it.
func (b *Batch) Commit() error {
	defer b.b.Close()
	if err := b.s.guard.Check(); err != nil {
		return err
	}
	for p, d := range b.keys {
		var err error
		switch {
		case d.replayed:
			err = b.b.Delete(KeyCountKey(p), nil) // unknown until a key count is replayed
		case d.counted:
			// The replayed key count is in the batch.
		case d.known && (!d.stored || d.delta != 0):
			err = b.b.Set(KeyCountKey(p), EncodeInt64(d.base+d.delta), nil)
		}
		if err != nil {
			return err
		}
	}
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
