// Package audit recounts closed windows independently of the workers and
// compares them with the final records of the output topics.
//
// It is a second implementation of the counting rules on purpose: it shares
// no code with package worker, only the small shared formats (video id
// validation, record headers and output JSON). Recount is the pure part:
// records come in as arguments, in the order dead-letter topic, ingestion
// topic, output topics. Run (kafka.go) reads the topics read_committed and
// feeds it.
//
// The rules it applies, as the workers do:
//
//   - one ingestion record is one like of the video named by its value, at
//     its timestamp; a counter.likes header makes it n likes; records with an
//     invalid id or count, and watermark marks, are not likes;
//   - windows are tumbling, aligned to the Unix epoch: [k·s, (k+1)·s); a like
//     stamped at a window's end belongs to the next one;
//   - likes with the same (video, Idempotency-Key, index) count once;
//   - a like dead-lettered as future (its counter.source names the ingestion
//     record) counts nowhere; one dead-lettered as late counts nowhere in the
//     sizes its record.LateWindowsHeader lists, but still in the others.
package audit

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// maxSeq bounds the index of an idempotent like: larger or unparsable
// indexes are counted without deduplication, as the workers do.
const maxSeq = 1 << 16

// MaxDrifts bounds the drifts listed in a Result (all are counted).
const MaxDrifts = 1000

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is what the audit needs of one Kafka record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp int64 // Unix ms
	Value     []byte
	Headers   []Header
}

func (r *Record) header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// WindowKey names one count: a video in one window of one size.
type WindowKey struct {
	Size  int64 // ms
	Start int64 // Unix ms
	Video string
}

// windowStart returns the start of the window of size ms holding ts: the
// largest multiple of size not after ts.
func windowStart(ts, size int64) int64 {
	r := ts % size
	if r < 0 {
		r += size
	}
	return ts - r
}

type source struct {
	partition int32
	offset    int64
}

type dedupKey struct {
	video, key string
	seq        int
}

// idempotentLike is the copy of an idempotent like that counts.
type idempotentLike struct {
	partition int32
	offset    int64
	ts        int64
	n         uint64
}

type likeAt struct {
	video string
	ts    int64
}

// lateLike is a like the workers dead-lettered as late.
type lateLike struct {
	likeAt
	n       uint64
	sizes   []int64
	matched bool // an ingested like of the same video and timestamp was read
}

// Stats describe the input of an audit.
type Stats struct {
	// IngestionRecords is the number of ingestion records read.
	IngestionRecords int64 `json:"ingestion_records"`
	// Likes is the number of likes counted (before windows and late).
	Likes int64 `json:"likes"`
	// Invalid is the number of records that are no likes (a bad id, a
	// bad idempotency key or index).
	Invalid int64 `json:"invalid"`
	// Future is the number of likes dead-lettered as future.
	Future int64 `json:"future"`
	// Refused is the number of likes dead-lettered as produce_error: the
	// broker refused for good the record the worker made of them.
	Refused int64 `json:"refused"`
	// Duplicates is the number of idempotent likes counted by an earlier
	// copy.
	Duplicates int64 `json:"duplicates"`
	// Late is the number of late likes (dead-letter records, matched with
	// the ingestion records read).
	Late int64 `json:"late"`
	// Finals is the number of final records read.
	Finals int64 `json:"finals"`
	// MalformedFinals is the number of final records that are not valid
	// aggregations of their topic's size; they make an audit fail.
	MalformedFinals int64 `json:"malformed_finals"`
}

// Recount accumulates the records of an audit. Feed it every dead-letter
// record first (DeadLettered), then the ingestion records (Ingested), each
// partition in offset order, and the output records (Output); then Compare.
// It is not safe for concurrent use.
type Recount struct {
	sizes   []window.Size
	bySize  map[int64]window.Size
	byLabel map[string]int64

	future     map[source]bool
	refused    map[source]bool
	late       map[likeAt][]*lateLike
	counts     map[WindowKey]int64
	idempotent map[dedupKey]idempotentLike
	finals     map[WindowKey][]uint64
	stats      Stats
}

// NewRecount returns an empty recount for the window sizes.
func NewRecount(sizes []window.Size) *Recount {
	r := &Recount{
		sizes:      sizes,
		bySize:     map[int64]window.Size{},
		byLabel:    map[string]int64{},
		future:     map[source]bool{},
		refused:    map[source]bool{},
		late:       map[likeAt][]*lateLike{},
		counts:     map[WindowKey]int64{},
		idempotent: map[dedupKey]idempotentLike{},
		finals:     map[WindowKey][]uint64{},
	}
	for _, s := range sizes {
		r.bySize[s.Millis] = s
		r.byLabel[s.Label] = s.Millis
	}
	return r
}

// DeadLettered takes one record of the dead-letter topic.
func (r *Recount) DeadLettered(rec Record) {
	reason, _ := rec.header(record.ReasonHeader)
	switch string(reason) {
	case record.ReasonFuture, record.ReasonProduceError:
		src, _ := rec.header(record.SourceHeader)
		topic, p, off, ok := parseSource(string(src))
		if !ok || topic != topics.Ingestion {
			return
		}
		if string(reason) == record.ReasonFuture {
			r.future[source{p, off}] = true
		} else {
			r.refused[source{p, off}] = true
		}
	case record.ReasonLate:
		labels, _ := rec.header(record.LateWindowsHeader)
		l := &lateLike{likeAt: likeAt{string(rec.Value), rec.Timestamp}, n: 1}
		if v, ok := rec.header(record.LikesHeader); ok {
			n, err := record.ParseLikes(v)
			if err != nil {
				return
			}
			l.n = n
		}
		for _, label := range strings.Split(string(labels), ",") {
			if size, ok := r.byLabel[label]; ok {
				l.sizes = append(l.sizes, size)
			}
		}
		if len(l.sizes) > 0 {
			r.late[l.likeAt] = append(r.late[l.likeAt], l)
		}
	}
}

// parseSource splits a counter.source header, "<topic>/<partition>/<offset>".
func parseSource(s string) (topic string, partition int32, offset int64, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndexByte(s[:i], '/')
	if j < 0 {
		return "", 0, 0, false
	}
	p, err1 := strconv.ParseInt(s[j+1:i], 10, 32)
	off, err2 := strconv.ParseInt(s[i+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return s[:j], int32(p), off, true
}

// Ingested takes one record of the ingestion topic. Every record is one
// like of the video its value names: a producer's headers other than the
// idempotency key and index mean nothing to the workers (a forged
// counter.likes or counter.watermark counts as one plain like).
func (r *Recount) Ingested(rec Record) {
	r.stats.IngestionRecords++
	if videoid.Validate(rec.Value) != nil {
		r.stats.Invalid++
		return
	}
	const n = 1
	if r.future[source{rec.Partition, rec.Offset}] {
		r.stats.Future += n
		return
	}
	video := string(rec.Value)
	k, idempotent, valid := idempotencyOf(&rec, video)
	if !valid {
		r.stats.Invalid++ // dead-lettered as bad_idempotency
		return
	}
	if r.refused[source{rec.Partition, rec.Offset}] {
		r.stats.Refused += n
		return
	}
	if idempotent {
		l := idempotentLike{partition: rec.Partition, offset: rec.Offset, ts: rec.Timestamp, n: n}
		prev, seen := r.idempotent[k]
		if !seen {
			r.idempotent[k] = l
			return
		}
		dropped := l
		if earlier(l, prev) {
			r.idempotent[k], dropped = l, prev
		}
		r.stats.Duplicates += int64(dropped.n)
		return
	}
	r.count(video, rec.Timestamp, n)
}

// idempotencyOf returns the deduplication key of an idempotent like (one
// with an idempotency key header); valid is false when its key or index is
// unusable, which the workers dead-letter.
func idempotencyOf(rec *Record, video string) (k dedupKey, idempotent, valid bool) {
	key, ok := rec.header(record.IdempotencyKeyHeader)
	if !ok {
		return dedupKey{}, false, true
	}
	seqb, _ := rec.header(record.SeqHeader)
	seq, err := record.ParseIdempotency(key, seqb)
	if err != nil {
		return dedupKey{}, true, false
	}
	return dedupKey{video, string(key), seq}, true, true
}

// earlier reports whether copy a of an idempotent like reached the workers
// before copy b: in one partition, the lower offset; across partitions
// (only foreign producers spread one video over several), the earlier
// timestamp, as a retry comes after its original.
func earlier(a, b idempotentLike) bool {
	if a.partition == b.partition {
		return a.offset < b.offset
	}
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.partition < b.partition
}

// count adds n likes of video at ts to their window of every size.
func (r *Recount) count(video string, ts int64, n uint64) {
	r.stats.Likes += int64(n)
	for _, s := range r.sizes {
		r.counts[WindowKey{s.Millis, windowStart(ts, s.Millis), video}] += int64(n)
	}
	if ls, ok := r.late[likeAt{video, ts}]; ok {
		for _, l := range ls {
			l.matched = true
		}
	}
}

// Output takes one record of the output topic of the window size of size
// ms; records other than finals are ignored.
func (r *Recount) Output(size int64, rec Record) {
	a, err := record.ParseAggregation(rec.Value)
	if err != nil {
		r.stats.MalformedFinals++ // cannot tell whether it is a final: count it
		return
	}
	if !a.Final {
		return
	}
	r.stats.Finals++
	s, ok := r.bySize[size]
	start, end := a.WindowStart.UnixMilli(), a.WindowEnd.UnixMilli()
	if !ok || a.Type != s.Label || end-start != size || windowStart(start, size) != start || videoid.ValidateString(a.VideoUID) != nil {
		r.stats.MalformedFinals++
		return
	}
	k := WindowKey{size, start, a.VideoUID}
	r.finals[k] = append(r.finals[k], a.Count)
}

// Range selects the windows an audit checks: those that start at or after
// From and close (end + Grace) at or before To. Times are Unix ms.
type Range struct {
	From, To, Grace int64
}

func (g Range) holds(k WindowKey) bool {
	return k.Start >= g.From && k.Start+k.Size+g.Grace <= g.To
}

// Drift kinds.
const (
	// DriftCount: one final whose count is not the recount.
	DriftCount = "wrong_count"
	// DriftMissing: likes were counted in the window but it has no final.
	DriftMissing = "missing_final"
	// DriftUnexpected: a final for a window without likes.
	DriftUnexpected = "unexpected_final"
	// DriftDuplicate: more than one final for the window.
	DriftDuplicate = "duplicate_finals"
)

// Drift is one window whose finals do not match the recount.
type Drift struct {
	Video       string    `json:"video_id"`
	Window      string    `json:"window"` // size label, e.g. "1min"
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Expected    int64     `json:"expected"`
	Counted     []uint64  `json:"counted"` // the counts of its finals
	Kind        string    `json:"kind"`
}

// Result is the outcome of an audit.
type Result struct {
	// At is when the audit read the topics' ends.
	At time.Time `json:"at"`
	// From and To bound the windows checked: start at or after From, end
	// plus grace at or before To.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Windows are the labels of the sizes audited.
	Windows []string `json:"windows"`
	// Checked is the number of (video, window) with likes or finals in the
	// range; Matching of them have one final equal to the recount,
	// Drifting do not.
	Checked  int `json:"windows_checked"`
	Matching int `json:"windows_matching"`
	Drifting int `json:"windows_drifting"`
	// Drifts lists the drifting windows (at most MaxDrifts), oldest first.
	Drifts []Drift `json:"drifts"`
	// Input describes what was read.
	Input Stats `json:"input"`
	// WorkersBehind is the number of input records the workers had not yet
	// processed when the topics were read (0 when they had caught up or
	// were not waited for): drift may then be lag.
	WorkersBehind int64 `json:"workers_behind"`
	// TookMs is how long the audit took.
	TookMs int64 `json:"took_ms"`
}

// OK reports whether the audit found no drift and no malformed final.
func (r Result) OK() bool { return r.Drifting == 0 && r.Input.MalformedFinals == 0 }

// Compare recounts the windows in g and compares them with the finals.
func (r *Recount) Compare(g Range) Result {
	expected := make(map[WindowKey]int64, len(r.counts))
	for k, n := range r.counts {
		if g.holds(k) {
			expected[k] += n
		}
	}
	stats := r.stats
	for k, l := range r.idempotent {
		stats.Likes += int64(l.n)
		for _, s := range r.sizes {
			if w := (WindowKey{s.Millis, windowStart(l.ts, s.Millis), k.video}); g.holds(w) {
				expected[w] += int64(l.n)
			}
		}
	}
	idempotentAt := make(map[likeAt]bool, len(r.idempotent))
	for k, l := range r.idempotent {
		idempotentAt[likeAt{k.video, l.ts}] = true
	}
	for at, ls := range r.late {
		for _, l := range ls {
			if !l.matched && !idempotentAt[at] {
				continue // a like after the ingestion topic's end as read
			}
			stats.Late += int64(l.n)
			for _, size := range l.sizes {
				if w := (WindowKey{size, windowStart(at.ts, size), at.video}); g.holds(w) {
					expected[w] -= int64(l.n)
				}
			}
		}
	}
	res := Result{From: time.UnixMilli(g.From).UTC(), To: time.UnixMilli(g.To).UTC(), Input: stats, Drifts: []Drift{}}
	for _, s := range r.sizes {
		res.Windows = append(res.Windows, s.Label)
	}
	var drifts []Drift
	check := func(k WindowKey) {
		want, finals := expected[k], r.finals[k]
		if want == 0 && len(finals) == 0 {
			return // every like of the window was late
		}
		res.Checked++
		var kind string
		switch {
		case len(finals) > 1:
			kind = DriftDuplicate
		case len(finals) == 0:
			kind = DriftMissing
		case want == 0:
			kind = DriftUnexpected
		case int64(finals[0]) != want:
			kind = DriftCount
		default:
			res.Matching++
			return
		}
		res.Drifting++
		drifts = append(drifts, Drift{
			Video: k.Video, Window: r.bySize[k.Size].Label,
			WindowStart: time.UnixMilli(k.Start).UTC(), WindowEnd: time.UnixMilli(k.Start + k.Size).UTC(),
			Expected: want, Counted: append([]uint64{}, finals...), Kind: kind,
		})
	}
	for k := range expected {
		check(k)
	}
	for k := range r.finals {
		if _, done := expected[k]; !done && g.holds(k) {
			check(k)
		}
	}
	slices.SortFunc(drifts, func(a, b Drift) int {
		return cmp.Or(a.WindowStart.Compare(b.WindowStart), cmp.Compare(a.WindowEnd.UnixMilli(), b.WindowEnd.UnixMilli()),
			cmp.Compare(a.Video, b.Video))
	})
	if len(drifts) > MaxDrifts {
		drifts = drifts[:MaxDrifts]
	}
	res.Drifts = append(res.Drifts, drifts...)
	return res
}
