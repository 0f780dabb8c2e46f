package task

import (
	"fmt"
	"maps"
	"slices"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// The reference model: the counting semantics written as plainly as
// possible, with no store, no cache, no transactions other than the list of
// records each committed transaction consumed, and no sharing of code with
// the core beyond the window arithmetic of package window.
//
// One partition's committed input is a sequence of entries (likes, marks,
// likes counted straight from the re-key stage), cut into the transactions
// that committed them. The model folds it in order:
//
//   - A mark raises its source's latest mark (watermark and number of
//     sources, each never going back). The partition's watermark is the
//     minimum over sources 0..n-1 of their watermarks, n being the largest
//     number of sources any mark reported; it is "none" while one of them
//     has not reported, and it never goes back.
//   - An idempotent like whose (video, key, index) was counted before is a
//     duplicate and changes nothing. Otherwise its index is remembered, with
//     the event time of the key's first like.
//   - A like is added to its window of every size, except where that window
//     has closed (its end plus the grace period is at or below the
//     watermark): there it is late.
//   - A like from the re-key stage is counted only if none of its windows has
//     closed; otherwise it is not counted here (it is forwarded and comes
//     back later as an ordinary like).
//   - At the end of each transaction: every window the transaction's marks
//     closed has a final, per video, equal to its count; the state of a
//     window whose close time plus the retention is at or below the
//     watermark is deleted; and when the watermark enters a new 1/24th of
//     the idempotency window (at least a second), idempotency records first
//     seen at or before watermark minus the window are deleted, except those
//     this transaction touched.
type model struct {
	pol   window.Policy
	idem  int64
	marks map[int32]watermark.Mark
	wm    int64

	counts map[window.Window]map[string]uint64
	dedup  map[string]record.Dedup
	finals map[string]uint64 // "window video" -> final count, every final so far
	// counted tells whether any like was ever counted: from then on the
	// changelog holds the number of counts.
	counted bool
	// lastFinals lists the finals of the last transaction, for messages.
	lastFinals []output
}

func newModel(pol window.Policy, idem int64) *model {
	return &model{pol: pol, idem: idem, marks: map[int32]watermark.Mark{}, wm: watermark.None,
		counts: map[window.Window]map[string]uint64{}, dedup: map[string]record.Dedup{}, finals: map[string]uint64{}}
}

// entry is one record of the partition's input.
type entry struct {
	kind  byte // 'l' like, 'h' like from the re-key stage, 'm' mark
	video string
	n     uint64
	ts    int64
	key   string // idempotency key, "" if none
	seq   int
	mark  watermark.Mark
}

func (e entry) String() string {
	switch e.kind {
	case 'm':
		return fmt.Sprintf("mark %d/%d %d", e.mark.Source, e.mark.Sources, e.mark.Watermark)
	case 'h':
		return fmt.Sprintf("here %s %d n=%d", e.video, e.ts, e.n)
	}
	if e.key != "" {
		return fmt.Sprintf("like %s %d n=%d key=%s seq=%d", e.video, e.ts, e.n, e.key, e.seq)
	}
	return fmt.Sprintf("like %s %d n=%d", e.video, e.ts, e.n)
}

// partitionWatermark is the minimum over all sources, none while one is
// missing.
func (m *model) partitionWatermark() int64 {
	var n int32
	for _, mk := range m.marks {
		if mk.Sources > n {
			n = mk.Sources
		}
	}
	if n == 0 {
		return watermark.None
	}
	lowest := int64(1<<63 - 1)
	for s := int32(0); s < n; s++ {
		mk, ok := m.marks[s]
		if !ok {
			return watermark.None
		}
		if mk.Watermark < lowest {
			lowest = mk.Watermark
		}
	}
	return lowest
}

func (m *model) closedAt(win window.Window, wm int64) bool {
	return wm != watermark.None && win.End()+m.pol.Grace <= wm
}

// transaction folds the entries of one committed transaction.
func (m *model) transaction(entries []entry) {
	before := m.wm
	touched := map[string]bool{}
	for _, e := range entries {
		switch e.kind {
		case 'm':
			if prev, ok := m.marks[e.mark.Source]; ok {
				m.marks[e.mark.Source] = watermark.Mark{Source: e.mark.Source, Watermark: max(prev.Watermark, e.mark.Watermark), Sources: max(prev.Sources, e.mark.Sources)}
			} else {
				m.marks[e.mark.Source] = e.mark
			}
			if wm := m.partitionWatermark(); wm != watermark.None && (m.wm == watermark.None || wm > m.wm) {
				m.wm = wm
			}
		case 'l':
			if e.key != "" {
				id := e.video + "\x00" + e.key
				d, ok := m.dedup[id]
				if !ok {
					d = record.Dedup{First: e.ts}
				}
				if d.Has(e.seq) {
					continue
				}
				m.dedup[id] = d.With(e.seq)
				touched[id] = true
			}
			for _, size := range m.pol.Sizes {
				win := window.Of(e.ts, size.Millis)
				if !m.closedAt(win, m.wm) {
					m.add(win, e.video, e.n)
				}
			}
		case 'h':
			closed := false
			for _, size := range m.pol.Sizes {
				closed = closed || m.closedAt(window.Of(e.ts, size.Millis), m.wm)
			}
			if !closed {
				for _, size := range m.pol.Sizes {
					m.add(window.Of(e.ts, size.Millis), e.video, e.n)
				}
			}
		}
	}
	m.lastFinals = nil
	for _, win := range slices.SortedFunc(maps.Keys(m.counts), compareWindows) {
		if m.closedAt(win, m.wm) && !m.closedAt(win, before) {
			for _, id := range slices.Sorted(maps.Keys(m.counts[win])) {
				m.finals[finalKey(win, id)] = m.counts[win][id]
				m.lastFinals = append(m.lastFinals, output{win, id, m.counts[win][id], true})
			}
		}
		if m.wm != watermark.None && win.End()+m.pol.Grace+m.pol.Retention <= m.wm {
			delete(m.counts, win)
		}
	}
	step := max(m.idem/24, 1000)
	if m.wm != watermark.None && (before == watermark.None || m.wm/step != before/step) {
		for id, d := range m.dedup {
			if d.First <= m.wm-m.idem && !touched[id] {
				delete(m.dedup, id)
			}
		}
	}
}

func (m *model) add(win window.Window, video string, n uint64) {
	m.counted = true
	if m.counts[win] == nil {
		m.counts[win] = map[string]uint64{}
	}
	m.counts[win][video] += n
}

func (m *model) keys() int64 {
	var n int64
	for _, c := range m.counts {
		n += int64(len(c))
	}
	return n
}

// changelog is the compacted changelog the model's state implies.
func (m *model) changelog() map[clKey]clValue {
	out := map[clKey]clValue{}
	for win, c := range m.counts {
		for id, n := range c {
			out[countKey(win, id)] = clValue{count: n}
		}
	}
	if m.counted {
		out[keysKey] = clValue{keys: m.keys()}
	}
	for s, mk := range m.marks {
		out[markKey(s)] = clValue{mark: mk}
	}
	if m.wm != watermark.None {
		// The partition's own watermark, which never goes back.
		out[markKey(PartitionSource)] = clValue{mark: watermark.Mark{Source: PartitionSource, Watermark: m.wm}}
	}
	for id, d := range m.dedup {
		out[dedupKey(id)] = clValue{dedup: d}
	}
	return out
}

func finalKey(win window.Window, id string) string { return winString(win) + " " + id }

func compareWindows(a, b window.Window) int {
	if a.Start != b.Start {
		return int(min(max(a.Start-b.Start, -1), 1))
	}
	return int(min(max(a.Size-b.Size, -1), 1))
}
