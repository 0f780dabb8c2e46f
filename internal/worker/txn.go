package worker

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/window"
)

// txn is the uncommitted work of one Kafka transaction. The committed state
// (sources, tasks, the store) changes only when the transaction commits; an
// abort drops the txn, which is the in-memory rollback.
type txn struct {
	began  bool
	start  time.Time
	doomed bool // a partition was revoked or is unknown: must abort

	sources map[int32]*sourceTxn
	touched map[int32]*owned // partitions whose counting core the transaction changed

	demoTick int64 // demo tick sent in this transaction, 0 if none

	combined *combiner // likes re-keyed in this transaction, not produced yet

	// buf holds the values of produced records: kgo keeps a reference until
	// the record is acknowledged, so values must not be reused; carving
	// them out of one growing buffer saves an allocation per record.
	buf []byte

	bounds map[window.Window][]byte // formatted window bounds of outputs

	recs []kgo.Record // chunk that record carves produced records from

	// Promises of produced records, made once per transaction rather than
	// once per record.
	sent, sentChangelog func(*kgo.Record, error)

	// refusals consulted by this transaction (Worker.refused), forgotten
	// once it commits, and the input records it skips.
	used    []srcRef
	skipped []skip

	mu           sync.Mutex // guards the fields below, set by produce promises
	produceErr   error      // the first produce error
	permanentErr error      // the first permanent one of a record made of no single input
	refusals     map[srcRef]refusal
	changelogEnd map[int32]int64 // partition -> last changelog offset produced

	// For the debug trace: input offsets consumed ([first, next) per
	// topic partition) and the first changelog offset produced.
	spans          map[srcSpanKey][2]int64
	changelogStart map[int32]int64
}

type srcSpanKey struct {
	topic     string
	partition int32
}

// span records input offsets [first, next) of topic partition p read in
// the transaction.
func (t *txn) span(topic string, p int32, first, next int64) {
	if t.spans == nil {
		t.spans = map[srcSpanKey][2]int64{}
	}
	k := srcSpanKey{topic, p}
	if s, ok := t.spans[k]; ok {
		first = min(first, s[0])
		next = max(next, s[1])
	}
	t.spans[k] = [2]int64{first, next}
}

// consumedTrace lists the input offsets read, as topic/partition:first-next.
func (t *txn) consumedTrace() []string {
	out := make([]string, 0, len(t.spans))
	for k, s := range t.spans {
		out = append(out, fmt.Sprintf("%s/%d:%d-%d", k.topic, k.partition, s[0], s[1]))
	}
	sort.Strings(out)
	return out
}

// changelogTrace lists the changelog offsets produced, as partition:first-last.
func (t *txn) changelogTrace() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.changelogEnd))
	for p, end := range t.changelogEnd {
		out = append(out, fmt.Sprintf("%d:%d-%d", p, t.changelogStart[p], end))
	}
	sort.Strings(out)
	return out
}

// srcRef names an input record, which a produced record was made of.
type srcRef struct {
	topic     string
	partition int32
	offset    int64
}

func refOf(r *kgo.Record) srcRef { return srcRef{r.Topic, r.Partition, r.Offset} }

// skip is an input record skipped: neither counted nor dead-lettered.
type skip struct {
	src        srcRef
	reason     string // why it was not counted
	valueBytes int
	err        error // why its dead letter was refused
}

// refusal is what the broker refused for good of what one input record
// became: the record forwarded for it, its dead letter.
type refusal struct {
	forward, deadLetter error
}

// permanent reports whether a produce error is about the record itself, so
// that producing the same record again can never succeed.
func permanent(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.InvalidTimestamp)
}

func newTxn() *txn {
	t := &txn{sources: map[int32]*sourceTxn{}, touched: map[int32]*owned{}, changelogEnd: map[int32]int64{},
		bounds: map[window.Window][]byte{}}
	t.sent, t.sentChangelog = t.promise(false), t.promise(true)
	return t
}

// sourceTxn is the pending progress of one ingestion partition.
type sourceTxn struct {
	maxTs int64 // largest timestamp forwarded in this transaction
	pos   int64 // next offset to read, -1 if nothing read
	sent  int64 // watermark sent in this transaction, None if none
}

// touch records that the transaction feeds o's counting core.
func (t *txn) touch(o *owned) { t.touched[o.core.Partition()] = o }

// abortTouched drops the changes of the transaction in every core it fed.
func (t *txn) abortTouched() {
	for _, o := range t.touched {
		o.core.Abort()
	}
}

// value copies b into the transaction's value buffer and returns the copy.
func (t *txn) value(b []byte) []byte { return carve(t, b) }

// valueString is value for a string.
func (t *txn) valueString(s string) []byte { return carve(t, s) }

func carve[T string | []byte](t *txn, b T) []byte {
	if cap(t.buf)-len(t.buf) < len(b) {
		t.buf = make([]byte, 0, max(64<<10, len(b)))
	}
	start := len(t.buf)
	t.buf = append(t.buf, b...)
	return t.buf[start:len(t.buf):len(t.buf)]
}

// record returns a zero record for the transaction to produce. Records are
// carved out of chunks (kgo keeps each one until it is acknowledged, within
// the transaction): one allocation per chunk rather than per record.
func (t *txn) record() *kgo.Record {
	if len(t.recs) == cap(t.recs) {
		t.recs = make([]kgo.Record, 0, 1024)
	}
	t.recs = t.recs[:len(t.recs)+1]
	return &t.recs[len(t.recs)-1]
}

// promise records produce failures and the last changelog offset of each
// partition.
func (t *txn) promise(changelog bool) func(*kgo.Record, error) {
	return func(r *kgo.Record, err error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("producing to %s/%d: %w", r.Topic, r.Partition, err)
			if t.produceErr == nil {
				t.produceErr = err
			}
			if t.permanentErr == nil && permanent(err) {
				t.permanentErr = err
			}
			return
		}
		if cur, ok := t.changelogEnd[r.Partition]; changelog && (!ok || r.Offset > cur) {
			t.changelogEnd[r.Partition] = r.Offset
		}
		if cur, ok := t.changelogStart[r.Partition]; changelog && (!ok || r.Offset < cur) {
			if t.changelogStart == nil {
				t.changelogStart = map[int32]int64{}
			}
			t.changelogStart[r.Partition] = r.Offset
		}
	}
}

// sentFrom is the promise of a record made of the input record src, a
// forwarded like or (deadLetter) a dead letter: a permanent refusal is
// recorded against src, so that the retry of the transaction can route
// around it (Worker.refused) instead of failing the same way forever.
func (t *txn) sentFrom(src srcRef, deadLetter bool) func(*kgo.Record, error) {
	return func(r *kgo.Record, err error) {
		if err == nil || !permanent(err) {
			t.sent(r, err)
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		err = fmt.Errorf("producing to %s/%d: %w", r.Topic, r.Partition, err)
		if t.produceErr == nil {
			t.produceErr = err
		}
		if t.refusals == nil {
			t.refusals = map[srcRef]refusal{}
		}
		f := t.refusals[src]
		if deadLetter {
			f.deadLetter = err
		} else {
			f.forward = err
		}
		t.refusals[src] = f
	}
}
