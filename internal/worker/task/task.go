// Package task is the counting core of the worker: the decisions about one
// partition of the partitioned topic, as a state machine without Kafka,
// without a store and without a clock.
//
// A Task holds the committed state of its partition that decides what
// happens next (each source's watermark mark, the windows that have state,
// how many counts there are) and the changes of the one open transaction. It
// reads the committed counts and idempotency records it does not hold
// through a State, and it reports what a transaction's changes imply
// (aggregation records, changelog records, closed windows) to an Effects.
// The worker (the shell) feeds it, in the order of the partition, the likes
// and marks it consumed, and tells it when the transaction commits or aborts:
//
//	Like / CountHere / Mark ... Finish(now, effects) ... Commit() or Abort()
//
// Finish is called once per transaction, before the commit; the effects it
// reports belong to the transaction and become visible only if it commits.
// Commit returns what the committed state gained, for the shell to write to
// its store. Time enters only as arguments: the event time of a like and
// the wall clock given to Finish.
package task

import (
	"fmt"
	"slices"
	"sort"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// State reads the committed state of one partition that a Task does not hold
// in memory. Counts are asked for only in windows the task knows have state.
type State interface {
	// Count returns the committed count of id in window win (0 if none).
	Count(win window.Window, id []byte) (uint64, error)
	// EachCount calls fn with every committed count of window win.
	EachCount(win window.Window, fn func(id string, c uint64)) error
	// DedupID names the idempotency record of (video, key): an opaque,
	// unique string that Dedup and EachDedup use too.
	DedupID(video, key []byte) string
	// Dedup returns the committed idempotency record id, if any.
	Dedup(id string) (record.Dedup, bool, error)
	// EachDedup calls fn with every committed idempotency record.
	EachDedup(fn func(id string, d record.Dedup) error) error
}

// Effects receives what a transaction's changes imply, from Finish.
type Effects interface {
	// Output is an aggregation record: the count of id in window win,
	// final when the window has closed, running otherwise.
	Output(win window.Window, id string, count uint64, final bool)
	// Closed reports that window win closed in this transaction (its finals
	// were output before).
	Closed(win window.Window)
	// Count is the changelog record of the count of id in window win; gone
	// makes it a tombstone (the window expired).
	Count(win window.Window, id string, count uint64, gone bool)
	// Keys is the changelog record of how many counts the partition holds.
	Keys(n int64)
	// Mark is the changelog record of the latest mark of a source.
	Mark(source int32, m watermark.Mark)
	// Dedup is the changelog record of an idempotency record; gone makes it
	// a tombstone (it expired).
	Dedup(id string, d record.Dedup, gone bool)
}

// PartitionSource is the pseudo-source under which a task keeps its own
// watermark among the sources' marks (in its state and its changelog, as a
// mark with no sources): the partition's watermark never goes back, but the
// sources' marks alone can give a lower one (a source added to the ingestion
// topic holds it at none until it reports), so a restore takes the larger of
// the two. watermark.Combine ignores it: it looks at sources 0 to n-1 only.
const PartitionSource int32 = -1

// Config is what a Task needs to know of the worker's configuration.
type Config struct {
	// Policy holds the window sizes, the grace period and the retention.
	Policy window.Policy
	// IdempotencyWindow is how long, in event-time milliseconds, an
	// idempotency record is kept after its first like.
	IdempotencyWindow int64
}

// Restored is the committed state of a partition as loaded from the store
// when the partition is assigned.
type Restored struct {
	Marks   map[int32]watermark.Mark // latest mark of each source
	Windows []window.Window          // windows with counts
	Keys    int64                    // number of counts
}

// Task is the counting state machine of one partition.
type Task struct {
	partition int32
	cfg       Config
	state     State

	// Committed state.
	marks   map[int32]watermark.Mark
	wm      int64
	windows map[window.Window]struct{}
	keys    int64

	txn *open // the open transaction's changes; nil when it has none
}

// open holds the changes of the open transaction.
type open struct {
	marks     map[int32]watermark.Mark            // marks received
	wm        int64                               // watermark with those marks
	counts    map[window.Window]map[string]uint64 // window -> video id -> new count, for counts changed
	expired   []window.Window                     // windows deleted at commit (set by Finish)
	newKeys   int64                               // counts created
	goneKeys  int64                               // counts deleted with expired windows
	dedup     map[string]record.Dedup             // idempotency records changed
	dedupGone []string                            // idempotency records expired (set by Finish)
}

// New returns the task of partition p with committed state r, reading the
// rest of its committed state through state.
func New(p int32, cfg Config, state State, r Restored) *Task {
	t := &Task{partition: p, cfg: cfg, state: state, marks: map[int32]watermark.Mark{},
		windows: make(map[window.Window]struct{}, len(r.Windows)), keys: r.Keys}
	for s, m := range r.Marks {
		t.marks[s] = m
	}
	t.wm = watermark.Combine(t.marks)
	if own, ok := t.marks[PartitionSource]; ok {
		t.wm = max(t.wm, own.Watermark)
	}
	for _, win := range r.Windows {
		t.windows[win] = struct{}{}
	}
	return t
}

// Partition returns the task's partition.
func (t *Task) Partition() int32 { return t.partition }

// Keys returns the number of committed counts.
func (t *Task) Keys() int64 { return t.keys }

// Watermark returns the committed watermark (watermark.None if none yet).
func (t *Task) Watermark() int64 { return t.wm }

// OpenWatermark returns the watermark as of the marks the open transaction
// has read so far (the committed one if it has none).
func (t *Task) OpenWatermark() int64 {
	if t.txn == nil {
		return t.wm
	}
	return t.txn.wm
}

// Open reports whether the open transaction changed anything.
func (t *Task) Open() bool { return t.txn != nil }

func (t *Task) begin() *open {
	if t.txn == nil {
		t.txn = &open{marks: map[int32]watermark.Mark{}, wm: t.wm, counts: map[window.Window]map[string]uint64{}}
	}
	return t.txn
}

// Like is one record of likes of the partitioned topic.
type Like struct {
	Video []byte // a valid video id
	N     uint64 // how many likes it stands for (at least 1)
	Time  int64  // event time, Unix ms
	// Key and Seq identify an idempotent like (Key empty: not idempotent):
	// each (Video, Key, Seq) is counted once.
	Key []byte
	Seq int
}

// Verdict is what became of a Like.
type Verdict struct {
	// Duplicate: an idempotent like counted before; nothing changed.
	Duplicate bool
	// Late lists the window sizes whose window had closed before the like
	// arrived: it is counted in the other sizes only.
	Late []window.Size
}

// Counted reports whether the like was counted in at least one window.
func (v Verdict) Counted(sizes int) bool { return !v.Duplicate && len(v.Late) < sizes }

// Like counts l into its window of every size, unless it is a duplicate or
// that window has closed at the watermark of the marks before it.
func (t *Task) Like(l Like) (Verdict, error) {
	o := t.begin()
	if len(l.Key) > 0 {
		dup, err := t.dedup(o, l)
		if err != nil || dup {
			return Verdict{Duplicate: dup}, err
		}
	}
	var v Verdict
	for _, size := range t.cfg.Policy.Sizes {
		win := window.Of(l.Time, size.Millis)
		if t.cfg.Policy.Closed(win, o.wm) {
			v.Late = append(v.Late, size)
			continue
		}
		if err := t.increment(o, win, l.Video, l.N); err != nil {
			return v, err
		}
	}
	return v, nil
}

// CountHere counts likes that the re-key stage of this worker combined and
// would otherwise send through the partitioned topic (see the worker's
// countHere), if none of their windows has closed; it reports whether it
// did. They are never idempotent.
func (t *Task) CountHere(video []byte, n uint64, ts int64) (bool, error) {
	o := t.begin()
	pol := t.cfg.Policy
	for _, size := range pol.Sizes {
		if pol.Closed(window.Of(ts, size.Millis), o.wm) {
			return false, nil
		}
	}
	for _, size := range pol.Sizes {
		if err := t.increment(o, window.Of(ts, size.Millis), video, n); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Mark records a source's watermark mark. A source's mark never goes back:
// an older one is ignored.
func (t *Task) Mark(m watermark.Mark) {
	o := t.begin()
	prev, ok := o.marks[m.Source]
	if !ok {
		prev, ok = t.marks[m.Source]
	}
	next := m
	if ok { // (without a previous mark, there is nothing to compare with: a zero mark would raise a negative watermark to 0)
		if prev.Watermark >= m.Watermark && prev.Sources >= m.Sources {
			return
		}
		next = watermark.Mark{Source: m.Source, Watermark: max(prev.Watermark, m.Watermark), Sources: max(prev.Sources, m.Sources)}
	}
	o.marks[m.Source] = next
	merged := make(map[int32]watermark.Mark, len(t.marks)+len(o.marks))
	for s, m := range t.marks {
		merged[s] = m
	}
	for s, m := range o.marks {
		merged[s] = m
	}
	o.wm = max(o.wm, watermark.Combine(merged))
}

// dedup reports whether like l was counted before, and otherwise records it
// as counted.
func (t *Task) dedup(o *open, l Like) (bool, error) {
	id := t.state.DedupID(l.Video, l.Key)
	d, ok := o.dedup[id]
	if !ok {
		stored, found, err := t.state.Dedup(id)
		if err != nil {
			return false, err
		}
		if d = stored; !found {
			d.First = l.Time
		}
	}
	if d.Has(l.Seq) {
		return true, nil
	}
	if o.dedup == nil {
		o.dedup = map[string]record.Dedup{}
	}
	o.dedup[id] = d.With(l.Seq)
	return false, nil
}

// increment adds n likes to the count of id in window win.
func (t *Task) increment(o *open, win window.Window, id []byte, n uint64) error {
	changed := o.counts[win]
	if changed == nil {
		changed = map[string]uint64{}
		o.counts[win] = changed
	}
	if c, ok := changed[string(id)]; ok {
		changed[string(id)] = c + n
		return nil
	}
	var c uint64
	if _, stored := t.windows[win]; stored { // a window without state has no counts
		var err error
		if c, err = t.state.Count(win, id); err != nil {
			return err
		}
	}
	if c == 0 {
		o.newKeys++
	}
	changed[string(id)] = c + n
	return nil
}

// Finish reports to fx what the open transaction's changes imply, now being
// the wall clock (Unix ms): the finals of the windows its watermark closes,
// running counts of the counts it changed in open windows, changelog records
// of every change, and tombstones for the windows and idempotency records
// that expire. It does nothing if the transaction changed nothing.
func (t *Task) Finish(now int64, fx Effects) error {
	o := t.txn
	if o == nil {
		return nil
	}
	o.expired, o.dedupGone, o.goneKeys = o.expired[:0], o.dedupGone[:0], 0
	if err := t.closeAndExpire(o, fx); err != nil {
		return err
	}
	if o.wm != t.wm { // it only goes up: kept with the marks (see PartitionSource)
		o.marks[PartitionSource] = watermark.Mark{Source: PartitionSource, Watermark: o.wm}
	}
	t.reportChanges(o, now, fx)
	return t.expireDedup(o, fx)
}

// closeAndExpire reports the finals of the windows the transaction's
// watermark closes, oldest first, and tombstones the counts of the windows
// it expires.
func (t *Task) closeAndExpire(o *open, fx Effects) error {
	pol := t.cfg.Policy
	all := make([]window.Window, 0, len(t.windows)+len(o.counts))
	for win := range t.windows {
		all = append(all, win)
	}
	for win := range o.counts {
		if _, ok := t.windows[win]; !ok {
			all = append(all, win)
		}
	}
	// Deterministic order: finals come out by window, oldest first.
	sort.Slice(all, func(i, j int) bool {
		if all[i].Start != all[j].Start {
			return all[i].Start < all[j].Start
		}
		return all[i].Size < all[j].Size
	})
	for _, win := range all {
		closing := pol.Closed(win, o.wm) && !pol.Closed(win, t.wm)
		gone := pol.Expired(win, o.wm)
		if !closing && !gone {
			continue
		}
		err := t.eachCount(o, win, func(id string, c uint64) {
			if closing {
				fx.Output(win, id, c, true)
			}
			if gone {
				fx.Count(win, id, 0, true)
				o.goneKeys++
			}
		})
		if err != nil {
			return err
		}
		if closing {
			fx.Closed(win)
		}
		if gone {
			o.expired = append(o.expired, win)
		}
	}
	return nil
}

// reportChanges reports the running counts and the changelog records of
// the counts, marks and idempotency records the transaction changed.
func (t *Task) reportChanges(o *open, now int64, fx Effects) {
	pol := t.cfg.Policy
	for win, changed := range o.counts {
		if slices.Contains(o.expired, win) {
			continue
		}
		// Running counts go out while a window is open, except for
		// windows the wall clock has already closed: a backlog being
		// caught up gets its finals soon, and running counts would only
		// multiply the output.
		running := !pol.Closed(win, o.wm) && !pol.Closed(win, now)
		for id, c := range changed {
			if running {
				fx.Output(win, id, c, false)
			}
			fx.Count(win, id, c, false)
		}
	}
	if len(o.counts) > 0 || o.goneKeys > 0 {
		// The number of counts follows them, so that a replay knows it
		// without reading the store.
		fx.Keys(t.keys + o.newKeys - o.goneKeys)
	}
	for s, m := range o.marks {
		fx.Mark(s, m)
	}
	for id, d := range o.dedup {
		fx.Dedup(id, d, false)
	}
}

// eachCount calls fn with every count of window win as of the end of the
// open transaction: the committed counts with its changes applied, and the
// counts it created.
func (t *Task) eachCount(o *open, win window.Window, fn func(id string, c uint64)) error {
	changed := o.counts[win]
	if _, stored := t.windows[win]; !stored {
		for id, c := range changed {
			fn(id, c)
		}
		return nil
	}
	var seen map[string]bool
	if len(changed) > 0 {
		seen = make(map[string]bool, len(changed))
	}
	err := t.state.EachCount(win, func(id string, c uint64) {
		if d, ok := changed[id]; ok {
			c = d
			seen[id] = true
		}
		fn(id, c)
	})
	if err != nil {
		return err
	}
	for id, c := range changed {
		if !seen[id] {
			fn(id, c)
		}
	}
	return nil
}

// expireDedup deletes the idempotency records older than the idempotency
// window, when the watermark crosses one of 24 steps of the window (so the
// scan runs about once an hour by default). Records the transaction changed
// are kept.
func (t *Task) expireDedup(o *open, fx Effects) error {
	step := max(t.cfg.IdempotencyWindow/24, 1000)
	if o.wm == watermark.None || (t.wm != watermark.None && o.wm/step == t.wm/step) {
		return nil
	}
	horizon := o.wm - t.cfg.IdempotencyWindow
	return t.state.EachDedup(func(id string, d record.Dedup) error {
		if d.First > horizon {
			return nil
		}
		if _, changed := o.dedup[id]; changed {
			return nil
		}
		o.dedupGone = append(o.dedupGone, id)
		fx.Dedup(id, d, true)
		return nil
	})
}

// Commit is what a committed transaction changed in a partition's state,
// for the shell to write to its store.
type Commit struct {
	// Counts holds the new counts of the windows that did not expire, and
	// Created tells which of those windows had no state before.
	Counts  map[window.Window]map[string]uint64
	Created map[window.Window]bool
	// Expired lists the windows whose state is deleted.
	Expired []window.Window
	// Marks holds the sources' new latest marks.
	Marks map[int32]watermark.Mark
	// Dedup holds the idempotency records changed, DedupGone those deleted.
	Dedup     map[string]record.Dedup
	DedupGone []string
	// KeysDelta is the change of the number of counts.
	KeysDelta int64
}

// Commit makes the open transaction's changes committed and returns them.
// Finish must have been called first.
func (t *Task) Commit() Commit {
	o := t.txn
	if o == nil {
		return Commit{}
	}
	t.txn = nil
	c := Commit{Counts: o.counts, Created: map[window.Window]bool{}, Expired: o.expired, Marks: o.marks,
		Dedup: o.dedup, DedupGone: o.dedupGone, KeysDelta: o.newKeys - o.goneKeys}
	for _, win := range o.expired {
		delete(c.Counts, win)
		delete(t.windows, win)
	}
	for win := range c.Counts {
		if _, stored := t.windows[win]; !stored {
			c.Created[win] = true
			t.windows[win] = struct{}{}
		}
	}
	for s, m := range o.marks {
		t.marks[s] = m
	}
	t.wm = o.wm
	t.keys += c.KeysDelta
	return c
}

// Abort drops the open transaction's changes.
func (t *Task) Abort() { t.txn = nil }

// String describes the task, for logs and test failures.
func (t *Task) String() string {
	return fmt.Sprintf("task %d (watermark %d, %d windows, %d counts)", t.partition, t.wm, len(t.windows), t.keys)
}
