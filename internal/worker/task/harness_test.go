package task

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// This file holds what the tests of the core run it with: an in-memory
// store (memState), an Effects that records (recorder), and a changelog
// made of the recorded effects, from which a store can be rebuilt as a new
// owner of the partition rebuilds it.

// memState is a committed partition state in memory: what the worker's
// store holds.
type memState struct {
	counts map[window.Window]map[string]uint64
	dedup  map[string]record.Dedup
	marks  map[int32]watermark.Mark
	keys   int64
}

func newMemState() *memState {
	return &memState{counts: map[window.Window]map[string]uint64{}, dedup: map[string]record.Dedup{}, marks: map[int32]watermark.Mark{}}
}

func (s *memState) Count(win window.Window, id []byte) (uint64, error) {
	return s.counts[win][string(id)], nil
}

func (s *memState) EachCount(win window.Window, fn func(id string, c uint64)) error {
	for id, c := range s.counts[win] {
		fn(id, c)
	}
	return nil
}

func (s *memState) DedupID(video, key []byte) string { return string(video) + "\x00" + string(key) }

func (s *memState) Dedup(id string) (record.Dedup, bool, error) {
	d, ok := s.dedup[id]
	return d, ok, nil
}

func (s *memState) EachDedup(fn func(id string, d record.Dedup) error) error {
	for _, id := range slices.Sorted(maps.Keys(s.dedup)) {
		if err := fn(id, s.dedup[id]); err != nil {
			return err
		}
	}
	return nil
}

// apply writes a committed transaction, as the worker writes its store.
func (s *memState) apply(c Commit) {
	for win, changed := range c.Counts {
		if s.counts[win] == nil {
			s.counts[win] = map[string]uint64{}
		}
		maps.Copy(s.counts[win], changed)
	}
	for _, win := range c.Expired {
		delete(s.counts, win)
	}
	maps.Copy(s.marks, c.Marks)
	maps.Copy(s.dedup, c.Dedup)
	for _, id := range c.DedupGone {
		delete(s.dedup, id)
	}
	s.keys += c.KeysDelta
}

// restored is what the worker loads from its store for a new task.
func (s *memState) restored() Restored {
	return Restored{Marks: maps.Clone(s.marks), Windows: slices.Collect(maps.Keys(s.counts)), Keys: s.keys}
}

// clValue is the value of a changelog record: one of the fields, by key kind.
type clValue struct {
	count uint64
	keys  int64
	mark  watermark.Mark
	dedup record.Dedup
}

// clKey is the key of a changelog record: kind 'c' (a count: win, id),
// 'k' (the number of counts), 'w' (a source's mark: source) or 'i' (an
// idempotency record: id).
type clKey struct {
	kind   byte
	win    window.Window
	id     string
	source int32
}

func (k clKey) String() string {
	switch k.kind {
	case 'c':
		return fmt.Sprintf("c|%s|%s", winString(k.win), k.id)
	case 'w':
		return fmt.Sprintf("w|%d", k.source)
	case 'i':
		return "i|" + strings.ReplaceAll(k.id, "\x00", "/")
	}
	return string(k.kind)
}

// clRecord is one changelog record; a tombstone when gone.
type clRecord struct {
	key  clKey
	val  clValue
	gone bool
}

func countKey(win window.Window, id string) clKey { return clKey{kind: 'c', win: win, id: id} }
func markKey(source int32) clKey                  { return clKey{kind: 'w', source: source} }
func dedupKey(id string) clKey                    { return clKey{kind: 'i', id: id} }

var keysKey = clKey{kind: 'k'}

// compact returns the latest value of every key of a changelog.
func compact(log []clRecord) map[clKey]clValue {
	out := map[clKey]clValue{}
	for _, r := range log {
		if r.gone {
			delete(out, r.key)
		} else {
			out[r.key] = r.val
		}
	}
	return out
}

// stateFromCompacted rebuilds a store from a compacted changelog, as a
// restore does.
func stateFromCompacted(cl map[clKey]clValue) *memState {
	s := newMemState()
	for key, v := range cl {
		switch key.kind {
		case 'c':
			if s.counts[key.win] == nil {
				s.counts[key.win] = map[string]uint64{}
			}
			s.counts[key.win][key.id] = v.count
		case 'k':
			s.keys = v.keys
		case 'w':
			s.marks[key.source] = v.mark
		case 'i':
			s.dedup[key.id] = v.dedup
		}
	}
	return s
}

// output is one aggregation record.
type output struct {
	win   window.Window
	id    string
	count uint64
	final bool
}

func (o output) String() string {
	kind := "running"
	if o.final {
		kind = "final"
	}
	return fmt.Sprintf("%s %s %s %d", kind, winString(o.win), o.id, o.count)
}

func winString(w window.Window) string { return fmt.Sprintf("%dms@%d", w.Size, w.Start) }

// recorder is an Effects that keeps what it is told.
type recorder struct {
	outputs   []output
	closed    []window.Window
	changelog []clRecord
}

func (r *recorder) Output(win window.Window, id string, count uint64, final bool) {
	r.outputs = append(r.outputs, output{win, id, count, final})
}

func (r *recorder) Closed(win window.Window) { r.closed = append(r.closed, win) }

func (r *recorder) Count(win window.Window, id string, count uint64, gone bool) {
	r.changelog = append(r.changelog, clRecord{key: countKey(win, id), val: clValue{count: count}, gone: gone})
}

func (r *recorder) Keys(n int64) {
	r.changelog = append(r.changelog, clRecord{key: keysKey, val: clValue{keys: n}})
}

func (r *recorder) Mark(source int32, m watermark.Mark) {
	r.changelog = append(r.changelog, clRecord{key: markKey(source), val: clValue{mark: m}})
}

func (r *recorder) Dedup(id string, d record.Dedup, gone bool) {
	r.changelog = append(r.changelog, clRecord{key: dedupKey(id), val: clValue{dedup: d}, gone: gone})
}

// lines describes what was recorded, one effect per line, in a stable order
// (the core emits the counts of one window in map order).
func (r *recorder) lines() []string {
	var out []string
	for _, o := range r.outputs {
		out = append(out, "out "+o.String())
	}
	for _, w := range r.closed {
		out = append(out, "closed "+winString(w))
	}
	for _, c := range r.changelog {
		out = append(out, "changelog "+describe(c))
	}
	sort.Strings(out)
	return out
}

func describe(c clRecord) string {
	if c.gone {
		return c.key.String() + " tombstone"
	}
	switch c.key.kind {
	case 'c':
		return fmt.Sprintf("%s = %d", c.key, c.val.count)
	case 'k':
		return fmt.Sprintf("k = %d", c.val.keys)
	case 'w':
		return fmt.Sprintf("%s = %d of %d", c.key, c.val.mark.Watermark, c.val.mark.Sources)
	default:
		return fmt.Sprintf("%s = first %d seen %x", c.key, c.val.dedup.First, c.val.dedup.Seen)
	}
}
