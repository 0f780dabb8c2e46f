package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// loaderDir is the scratch directory of Loaders, inside the store's
// directory (ingested files must be on the store's file system).
const loaderDir = "restore.tmp"

// LoaderMemory is how many bytes of records a Loader holds in memory, over
// all its partitions, before it writes sorted runs to disk.
var LoaderMemory = 96 << 20

// loaderChunk is the size of the memory blocks records are copied into.
const loaderChunk = 1 << 20

// loaderTableSize is the size at which Finish starts a new sstable: about
// what Pebble's compactions write to the last level of a store of a few
// hundred MiB, so that later compactions into these tables rewrite little.
const loaderTableSize = 16 << 20

// Loader applies long runs of changelog records to partitions without
// writing through Pebble's memtables: it keeps the records of each
// partition in memory, sorts them by key (writing sorted runs to scratch
// files when they outgrow LoaderMemory), keeps the last record of each key,
// and ingests the result as sstables, with the partition's changelog offset
// and key count, in one atomic step per partition.
//
// A partition the store holds nothing of (see Empty) is built from scratch:
// deleted keys are dropped and the Loader counts the counts. On top of the
// state of another partition (see Onto), deletions are written, and the key
// count is the last one among the records (see Batch.Replay).
//
// Nothing else may write the partitions until Finish. Add and Onto must not
// be called concurrently; Finish may run concurrently with them and with
// Finish of other partitions.
type Loader struct {
	s     *Store
	dir   string
	files atomic.Int64 // scratch files created, for their names

	mu    sync.Mutex
	used  int // bytes of memory held by the partitions' records
	parts map[int32]*loadPart
	mem   arena
	free  [][]byte // chunks of mem to reuse
}

// loadPart is the records of one partition that a Loader holds.
type loadPart struct {
	chunks [][]byte
	ents   []loadEnt
	runs   []string // sorted runs on disk, oldest first
	size   int      // bytes of memory held

	// On top of a state (see Onto): the last key count added, and
	// whether counts came after it.
	onto        bool
	keyCount    []byte
	countsAfter bool

	// For abbreviated keys (see abbreviate): the first key's first
	// abbrevSpan bytes, the bytes in which later keys differ from them,
	// and the length of the shortest key.
	first  [abbrevSpan]byte
	diff   [abbrevSpan]byte
	minLen int
}

// loadEnt is one record: its key, then its value, in chunk chunk at off. A
// later record has a larger (chunk, off). a0 and a1 hold its abbreviated
// key, set by sortDedup.
type loadEnt struct {
	chunk, off, klen uint32
	vlen             int32 // -1: a deletion
	a0, a1           uint64
}

const loadEntSize = 32

// NewLoader starts a Loader. Close releases it.
func (s *Store) NewLoader() (*Loader, error) {
	dir := filepath.Join(s.dir, loaderDir)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Loader{s: s, dir: dir, parts: map[int32]*loadPart{}}, nil
}

// Onto declares that partition p is not empty: its records go on top of
// its state. It must come before the partition's first Add.
func (l *Loader) Onto(p int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part(p).onto = true
}

// part returns the records of partition p, creating them. l.mu must be
// held.
func (l *Loader) part(p int32) *loadPart {
	lp := l.parts[p]
	if lp == nil {
		lp = &loadPart{}
		l.parts[p] = lp
	}
	return lp
}

// Add adds changelog record (ck, value) of partition p; a nil value deletes
// the key. The Loader copies both. A changelog offset record is skipped,
// and so is a key count, which Finish writes (see localOnly).
func (l *Loader) Add(p int32, ck, value []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	lp := l.part(p)
	if localOnly(ck) {
		if ck[0] == kindKeys {
			lp.keyCount, lp.countsAfter = append(lp.keyCount[:0], value...), false
			if value == nil {
				lp.keyCount = nil
			}
		}
		return nil
	}
	if len(ck) > 0 && ck[0] == kindCount {
		lp.countsAfter = true
	}
	n := len(ck) + len(value)
	if len(lp.chunks) == 0 || cap(lp.chunks[len(lp.chunks)-1])-len(lp.chunks[len(lp.chunks)-1]) < n {
		lp.chunks = append(lp.chunks, l.chunk(n))
		lp.size += cap(lp.chunks[len(lp.chunks)-1])
		l.used += cap(lp.chunks[len(lp.chunks)-1])
	}
	c := len(lp.chunks) - 1
	buf := lp.chunks[c]
	e := loadEnt{chunk: uint32(c), off: uint32(len(buf)), klen: uint32(len(ck)), vlen: -1}
	buf = append(buf, ck...)
	if value != nil {
		e.vlen = int32(len(value))
		buf = append(buf, value...)
	}
	lp.chunks[c] = buf
	if len(lp.ents) == cap(lp.ents) {
		ents := make([]loadEnt, len(lp.ents), max(256, 2*cap(lp.ents)))
		copy(ents, lp.ents)
		grown := (cap(ents) - cap(lp.ents)) * loadEntSize
		lp.size += grown
		l.used += grown
		lp.ents = ents
	}
	if len(lp.ents) == 0 {
		copy(lp.first[:], ck)
		lp.diff, lp.minLen = [abbrevSpan]byte{}, len(ck)
	} else {
		var head [abbrevSpan]byte
		copy(head[:], ck)
		for i := range head {
			lp.diff[i] |= head[i] ^ lp.first[i]
		}
		lp.minLen = min(lp.minLen, len(ck))
	}
	lp.ents = append(lp.ents, e)
	if l.used > LoaderMemory {
		return l.spillLargest()
	}
	return nil
}

// chunk returns an empty memory block for at least n bytes. Blocks are
// smaller when many partitions share the memory.
func (l *Loader) chunk(n int) []byte {
	for k := len(l.free) - 1; k >= 0; k-- {
		if c := l.free[k]; cap(c) >= n {
			l.free = slices.Delete(l.free, k, k+1)
			return c[:0]
		}
	}
	size := min(loaderChunk, max(4<<10, LoaderMemory/(8*max(1, len(l.parts)))))
	if n > size {
		return make([]byte, 0, n) // a record too large to share a block
	}
	return l.mem.chunk(size)
}

// release gives the memory of lp's records back. l.mu must be held.
func (l *Loader) release(lp *loadPart) {
	for _, c := range lp.chunks {
		if cap(c) <= loaderChunk {
			l.free = append(l.free, c)
		}
	}
	clear(lp.chunks)
	lp.chunks = lp.chunks[:0]
	lp.ents = nil
	l.used -= lp.size
	lp.size = 0
}

// spillLargest writes the records of the partitions holding the most
// memory as sorted runs, until a quarter of the memory is free. l.mu must
// be held.
func (l *Loader) spillLargest() error {
	for l.used > LoaderMemory*3/4 {
		var big *loadPart
		for _, lp := range l.parts {
			if len(lp.ents) > 0 && (big == nil || lp.size > big.size) {
				big = lp
			}
		}
		if big == nil {
			return nil
		}
		if err := l.spill(big); err != nil {
			return err
		}
	}
	return nil
}

func (l *Loader) spill(lp *loadPart) error {
	lp.sortDedup()
	path := l.scratch("run")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var hdr []byte
	for _, e := range lp.ents {
		hdr = binary.AppendUvarint(hdr[:0], uint64(e.klen))
		hdr = binary.AppendVarint(hdr, int64(e.vlen))
		w.Write(hdr)
		w.Write(lp.key(e))
		w.Write(lp.value(e))
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing a restore run: %w", err)
	}
	lp.runs = append(lp.runs, path)
	l.release(lp)
	return nil
}

func (l *Loader) scratch(kind string) string {
	return filepath.Join(l.dir, kind+"-"+strconv.FormatInt(l.files.Add(1), 10))
}

func (lp *loadPart) key(e loadEnt) []byte {
	return lp.chunks[e.chunk][e.off : e.off+e.klen]
}

// value returns e's value, nil for a deletion.
func (lp *loadPart) value(e loadEnt) []byte {
	if e.vlen < 0 {
		return nil
	}
	start := e.off + e.klen
	return lp.chunks[e.chunk][start : start+uint32(e.vlen)]
}

// abbrevSpan is how many leading key bytes abbreviated keys are taken from.
const abbrevSpan = 32

// abbreviate sets the abbreviated key of every entry: 16 bytes of the key,
// taken from the first abbrevSpan bytes that are not the same in all keys
// (zero past the key's end). Dropping bytes that every key shares keeps the
// order: a smaller abbreviation means a smaller key, and equal ones need a
// full comparison. State keys start with long shared prefixes (kind, window
// size and start), so comparing abbreviations spares most key reads.
func (lp *loadPart) abbreviate() {
	var pos [16]int
	n := 0
	for i := 0; i < abbrevSpan && n < len(pos); i++ {
		if i >= lp.minLen || lp.diff[i] != 0 {
			pos[n] = i
			n++
		}
	}
	for j := range lp.ents {
		e := &lp.ents[j]
		k := lp.key(*e)
		var a [16]byte
		for x, i := range pos[:n] {
			if i < len(k) {
				a[x] = k[i]
			}
		}
		e.a0, e.a1 = binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	}
}

// sortDedup sorts the entries by key and keeps the last of each key.
func (lp *loadPart) sortDedup() {
	lp.abbreviate()
	lp.sort(lp.ents, 2*bits.Len(uint(len(lp.ents))))
	out := lp.ents[:0]
	for i, e := range lp.ents {
		if i+1 < len(lp.ents) {
			nx := lp.ents[i+1]
			if e.a0 == nx.a0 && e.a1 == nx.a1 && bytes.Equal(lp.key(e), lp.key(nx)) {
				continue
			}
		}
		out = append(out, e)
	}
	lp.ents = out
}

// less orders entries by key, then by age. No two entries are equal.
func (lp *loadPart) less(a, b *loadEnt) bool {
	if a.a0 != b.a0 {
		return a.a0 < b.a0
	}
	if a.a1 != b.a1 {
		return a.a1 < b.a1
	}
	if c := bytes.Compare(lp.key(*a), lp.key(*b)); c != 0 {
		return c < 0
	}
	if a.chunk != b.chunk {
		return a.chunk < b.chunk
	}
	return a.off < b.off
}

// sort sorts es by less: quicksort, falling back to heapsort below depth
// levels, and insertion sort for short slices. It is slices.SortFunc
// without a call through a function value per comparison, which took most
// of its time.
func (lp *loadPart) sort(es []loadEnt, depth int) {
	for len(es) > 12 {
		if depth == 0 {
			lp.heapSort(es)
			return
		}
		depth--
		// Median of three as the pivot, at es[0].
		a, b, c := 0, len(es)/2, len(es)-1
		if lp.less(&es[b], &es[a]) {
			a, b = b, a
		}
		if lp.less(&es[c], &es[b]) {
			b = c
			if lp.less(&es[b], &es[a]) {
				b = a
			}
		}
		es[0], es[b] = es[b], es[0]
		pivot := es[0]
		i, j := 1, len(es)-1
		for {
			for i <= j && lp.less(&es[i], &pivot) {
				i++
			}
			for i <= j && lp.less(&pivot, &es[j]) {
				j--
			}
			if i >= j {
				break
			}
			es[i], es[j] = es[j], es[i]
			i++
			j--
		}
		es[0], es[j] = es[j], es[0]
		if j < len(es)-j {
			lp.sort(es[:j], depth)
			es = es[j+1:]
		} else {
			lp.sort(es[j+1:], depth)
			es = es[:j]
		}
	}
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && lp.less(&es[j], &es[j-1]); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

func (lp *loadPart) heapSort(es []loadEnt) {
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && lp.less(&es[c], &es[c+1]) {
				c++
			}
			if !lp.less(&es[i], &es[c]) {
				return
			}
			es[i], es[c] = es[c], es[i]
			i = c
		}
	}
	for i := len(es)/2 - 1; i >= 0; i-- {
		down(i, len(es))
	}
	for n := len(es) - 1; n > 0; n-- {
		es[0], es[n] = es[n], es[0]
		down(0, n)
	}
}

// Finish writes the state of partition p, as its records added so far
// leave it, to the store with changelog offset next and the key count. It
// returns the key count (-1 when unknown: on top of a state, records of
// counts without a key count after them) and how many sorted runs it
// merged from disk.
func (l *Loader) Finish(ctx context.Context, p int32, next int64) (keys int64, runs int, err error) {
	if err := l.s.guard.Check(); err != nil {
		return 0, 0, err
	}
	l.mu.Lock()
	lp := l.part(p)
	delete(l.parts, p)
	l.mu.Unlock()
	defer func() {
		for _, r := range lp.runs {
			os.Remove(r)
		}
		l.mu.Lock()
		l.release(lp)
		l.mu.Unlock()
	}()
	lp.sortDedup()
	src, err := lp.source()
	if err != nil {
		return 0, 0, err
	}
	if m, ok := src.(*mergeSource); ok {
		defer m.close()
	}
	tw := &tableWriter{l: l, p: p, next: next, onto: lp.onto}
	if lp.onto {
		tw.keys = -1
		switch {
		case lp.countsAfter:
			tw.keyCount = nil // unknown: deleted
		case lp.keyCount != nil:
			tw.keyCount = lp.keyCount
			tw.keys, _ = DecodeInt64(lp.keyCount)
		default:
			tw.done = 1 // no count changed: the stored key count stays
		}
	}
	defer tw.abort()
	for {
		ck, v, ok, err := src.next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		if v == nil && !lp.onto {
			continue // the store holds nothing to delete
		}
		if err := tw.add(ck, v); err != nil {
			return 0, 0, err
		}
	}
	paths, err := tw.finish()
	if err != nil {
		return 0, 0, err
	}
	if err := l.s.db.Ingest(ctx, paths); err != nil {
		return 0, 0, fmt.Errorf("ingesting the restored state of partition %d: %w", p, err)
	}
	tw.paths = nil
	return tw.keys, len(lp.runs), nil
}

// Close releases the Loader's memory and removes its scratch files; the
// state of partitions not finished is dropped. No Finish may be running.
func (l *Loader) Close() error {
	l.mu.Lock()
	for _, lp := range l.parts {
		l.release(lp)
	}
	l.parts, l.free = nil, nil
	l.mem.free()
	l.mu.Unlock()
	return os.RemoveAll(l.dir)
}

// tableWriter writes the sorted state of one partition as sstables to
// ingest, adding the partition's key count and changelog offset at their
// places in key order.
type tableWriter struct {
	l    *Loader
	p    int32
	next int64
	// From scratch, keys counts the counts written. On top of a state
	// (onto), keyCount is the key count to write, nil when unknown (the
	// stored one is deleted), and keys its value; done starts at 1 when
	// the stored one stays.
	onto     bool
	keyCount []byte
	keys     int64
	done     int // bookkeeping entries written
	w        *sstable.Writer
	path     string
	paths    []string
	key      []byte
}

// add writes changelog key ck (in increasing order) with value v, or its
// deletion when v is nil.
func (tw *tableWriter) add(ck, v []byte) error {
	if err := tw.bookkeeping(ck, false); err != nil {
		return err
	}
	if len(ck) > 0 && ck[0] == kindCount && !tw.onto {
		tw.keys++
	}
	return tw.set(ck, v)
}

// bookkeeping writes the key count and offset entries that sort before ck,
// or all of them. Counts sort before both, so the key count is complete
// when it is written.
func (tw *tableWriter) bookkeeping(ck []byte, all bool) error {
	for ; tw.done < 2; tw.done++ {
		kind := [2]byte{kindKeys, kindOffset}[tw.done]
		// The key is the one byte kind, and ck is never that key itself
		// (see localOnly): ck sorts before it exactly when it is empty or
		// starts lower.
		if !all && (len(ck) == 0 || ck[0] < kind) {
			return nil
		}
		v := EncodeInt64(tw.next)
		if kind == kindKeys {
			v = EncodeInt64(tw.keys)
			if tw.onto {
				v = tw.keyCount // nil: unknown, deleted
			}
		}
		if err := tw.set([]byte{kind}, v); err != nil {
			return err
		}
	}
	return nil
}

// set writes ck=v, or the deletion of ck when v is nil.
func (tw *tableWriter) set(ck, v []byte) error {
	if tw.w != nil && tw.w.Raw().EstimatedSize() >= loaderTableSize {
		if err := tw.close(); err != nil {
			return err
		}
	}
	if tw.w == nil {
		tw.path = tw.l.scratch("table")
		f, err := vfs.Default.Create(tw.path, vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		opts := tw.l.s.opts.MakeWriterOptions(0, tw.l.s.db.TableFormat())
		tw.w = sstable.NewWriter(objstorageprovider.NewFileWritable(f), opts)
	}
	tw.key = append(appendPartition(tw.key[:0], tw.p), ck...)
	if v == nil {
		return tw.w.Delete(tw.key)
	}
	return tw.w.Set(tw.key, v)
}

// close finishes the sstable being written.
func (tw *tableWriter) close() error {
	w := tw.w
	tw.w = nil
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing restored state: %w", err)
	}
	tw.paths = append(tw.paths, tw.path)
	return nil
}

// finish writes what remains and returns the sstables.
func (tw *tableWriter) finish() ([]string, error) {
	if err := tw.bookkeeping(nil, true); err != nil {
		return nil, err
	}
	if err := tw.close(); err != nil {
		return nil, err
	}
	return tw.paths, nil
}

// abort removes the sstables not ingested.
func (tw *tableWriter) abort() {
	if tw.w != nil {
		tw.w.Close()
		tw.paths = append(tw.paths, tw.path)
	}
	for _, path := range tw.paths {
		os.Remove(path)
	}
}

// source yields the records of a partition in key order, one per key: the
// last one added.
type source interface {
	next() (ck, value []byte, ok bool, err error)
}

// source returns the merged records of lp: its runs and the entries in
// memory, which must be sorted.
func (lp *loadPart) source() (source, error) {
	mem := &memSource{lp: lp}
	if len(lp.runs) == 0 {
		return mem, nil
	}
	m := &mergeSource{}
	for _, path := range lp.runs {
		r, err := openRun(path)
		if err != nil {
			m.close()
			return nil, err
		}
		m.srcs = append(m.srcs, r)
	}
	m.srcs = append(m.srcs, mem)
	return m, nil
}

// memSource yields the sorted entries of a partition in memory. In key
// order the records lie all over memory, and reading one at a time makes
// each read wait for memory; so it copies them a batch at a time into a
// buffer, in a loop short enough that the processor overlaps the reads.
type memSource struct {
	lp    *loadPart
	i     int      // next entry to copy
	buf   []byte   // copied records
	recs  []memRec // their places in buf
	ready int      // next record of recs to return
}

// memRec is a record copied into memSource.buf.
type memRec struct {
	off, klen uint32
	vlen      int32
}

// memBatch is how many records memSource copies at a time.
const memBatch = 64

func (m *memSource) next() ([]byte, []byte, bool, error) {
	if m.ready == len(m.recs) {
		ents := m.lp.ents[m.i:min(m.i+memBatch, len(m.lp.ents))]
		if len(ents) == 0 {
			return nil, nil, false, nil
		}
		m.i += len(ents)
		m.buf, m.recs, m.ready = m.buf[:0], m.recs[:0], 0
		for _, e := range ents {
			start := uint32(e.off)
			n := e.klen + uint32(max(e.vlen, 0))
			r := memRec{off: uint32(len(m.buf)), klen: e.klen, vlen: e.vlen}
			m.buf = append(m.buf, m.lp.chunks[e.chunk][start:start+n]...)
			m.recs = append(m.recs, r)
		}
	}
	r := m.recs[m.ready]
	m.ready++
	key := m.buf[r.off : r.off+r.klen]
	if r.vlen < 0 {
		return key, nil, true, nil
	}
	vstart := r.off + r.klen
	return key, m.buf[vstart : vstart+uint32(r.vlen)], true, nil
}

// runSource reads a run written by spill.
type runSource struct {
	f     *os.File
	r     *bufio.Reader
	key   []byte
	value []byte
}

func openRun(path string) (*runSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &runSource{f: f, r: bufio.NewReaderSize(f, 256<<10)}, nil
}

func (r *runSource) next() ([]byte, []byte, bool, error) {
	klen, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	vlen, err := binary.ReadVarint(r.r)
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading a restore run: %w", err)
	}
	r.key = slices.Grow(r.key[:0], int(klen))[:klen]
	if _, err := io.ReadFull(r.r, r.key); err != nil {
		return nil, nil, false, fmt.Errorf("reading a restore run: %w", err)
	}
	if vlen < 0 {
		return r.key, nil, true, nil
	}
	r.value = slices.Grow(r.value[:0], int(vlen))[:vlen]
	if _, err := io.ReadFull(r.r, r.value); err != nil {
		return nil, nil, false, fmt.Errorf("reading a restore run: %w", err)
	}
	return r.key, r.value, true, nil
}

// mergeSource merges sources that each yield one record per key in key
// order; of the records of one key, the one of the last source wins.
type mergeSource struct {
	srcs    []source
	heads   []head
	pending int // source to advance before the next record, -1 for none
	started bool
}

type head struct {
	key, value []byte
	ok         bool
}

func (m *mergeSource) next() ([]byte, []byte, bool, error) {
	if !m.started {
		m.started, m.pending = true, -1
		m.heads = make([]head, len(m.srcs))
		for i := range m.srcs {
			if err := m.advance(i); err != nil {
				return nil, nil, false, err
			}
		}
	}
	// The record returned last stays valid until now: its source may
	// reuse its buffers.
	if m.pending >= 0 {
		if err := m.advance(m.pending); err != nil {
			return nil, nil, false, err
		}
		m.pending = -1
	}
	win := -1
	for i, h := range m.heads {
		if h.ok && (win < 0 || bytes.Compare(h.key, m.heads[win].key) <= 0) {
			win = i // equal keys: the later source wins
		}
	}
	if win < 0 {
		return nil, nil, false, nil
	}
	key, value := m.heads[win].key, m.heads[win].value
	for i := range m.heads {
		if i != win && m.heads[i].ok && bytes.Equal(m.heads[i].key, key) {
			if err := m.advance(i); err != nil {
				return nil, nil, false, err
			}
		}
	}
	m.pending = win
	return key, value, true, nil
}

func (m *mergeSource) advance(i int) error {
	k, v, ok, err := m.srcs[i].next()
	m.heads[i] = head{key: k, value: v, ok: ok}
	return err
}

// close closes the runs.
func (m *mergeSource) close() {
	for _, s := range m.srcs {
		if r, ok := s.(*runSource); ok {
			r.f.Close()
		}
	}
}
