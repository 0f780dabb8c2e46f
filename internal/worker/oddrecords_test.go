package worker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/worker/deadletter"
)

// oddRecord is an input record that must not disturb the pipeline: either
// dead-lettered with reason, or (reason "") counted as one like of video.
type oddRecord struct {
	name   string
	rec    *kgo.Record
	reason string
	video  string
}

// oddRecords returns the odd records of issue 10, item 3, stamped ts.
func oddRecords(ts time.Time) []oddRecord {
	headers := func(n, size int) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := range n {
			hs = append(hs, kgo.RecordHeader{Key: fmt.Sprintf("h%d", i), Value: bytes.Repeat([]byte{'x'}, size)})
		}
		return hs
	}
	idem := func(key string, hs ...kgo.RecordHeader) []kgo.RecordHeader {
		return append(hs, kgo.RecordHeader{Key: record.IdempotencyKeyHeader, Value: []byte(key)}, kgo.RecordHeader{Key: record.SeqHeader, Value: []byte("0")})
	}
	rec := func(key, value []byte, hs []kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: topics.Ingestion, Partition: 0, Key: key, Value: value, Timestamp: ts, Headers: hs}
	}
	huge := bytes.Repeat([]byte("a"), 1_048_376) // the record: valid characters, too long
	return []oddRecord{
		{"1 MB value", rec(nil, huge, nil), "too_long", ""},
		{"huge key, bad value", rec(bytes.Repeat([]byte("k"), 512<<10), []byte("bad id"), nil), "bad_chars", ""},
		{"huge key, good value", rec(bytes.Repeat([]byte("k"), 512<<10), []byte("odd-huge-key"), nil), "", "odd-huge-key"},
		{"many headers, bad value", rec(nil, []byte("\xff"), headers(2000, 400)), "invalid_utf8", ""},
		{"many headers, good value", rec(nil, []byte("odd-many-headers"), headers(2000, 400)), "", "odd-many-headers"},
		{"many headers, idempotent", rec(nil, []byte("odd-idempotent"), idem("k1", headers(2000, 400)...)), "", "odd-idempotent"},
		{"huge idempotency key", rec(nil, []byte("odd-bad-key"), idem(strings.Repeat("k", 300<<10))), record.ReasonBadIdempotency, ""},
		{"empty value", rec(nil, []byte{}, nil), "empty", ""},
		{"nil value", rec([]byte("k"), nil, nil), "empty", ""},
		{"invalid UTF-8", rec(nil, []byte("v\xc3\x28"), nil), "invalid_utf8", ""},
		// Headers of this pipeline's own, forged on input: not forwarded,
		// so one like each, and no mark.
		{"forged like count", rec(nil, []byte("odd-forged-count"), []kgo.RecordHeader{{Key: record.LikesHeader, Value: []byte("1000000")}}), "", "odd-forged-count"},
		{"forged mark", rec(nil, []byte("odd-forged-mark"), []kgo.RecordHeader{{Key: record.MarkHeader, Value: []byte("0/1/99999999999999")}}), "", "odd-forged-mark"},
	}
}

// Issue 10, item 3: a 1 MB record and other oversized or odd records in the
// ingestion topic, among valid likes: the bad ones are dead-lettered (their
// dead letters cut to a bounded size), windows keep closing, and the valid
// likes are counted exactly. With a dead-letter topic too small for some
// dead letters, those records are skipped (metric, log) instead of
// wedging the partition.
func TestOddRecordsNeverWedgeAPartition(t *testing.T) {
	for _, tc := range []struct {
		name          string
		deadLetterMax int // max.message.bytes of the dead-letter topic, 0 for the default
	}{{"default limits", 0}, {"dead-letter topic too small for some", 4096}} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := testkit.StartBroker(t)
			p := testkit.Policy(t, testGrace, "2s")
			testkit.EnsureTopics(t, brokers, p, 2)
			if tc.deadLetterMax > 0 {
				setMaxMessageBytes(t, brokers, topics.DeadLetter, tc.deadLetterMax)
			}
			out := testkit.ReadOutputs(t, brokers, p)
			_, regs := runWorkers(t, brokers, p, t.TempDir(), 1)
			// A producer that can send what the broker accepts (1 MB
			// records), not only kgo's default batch size.
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(1_048_588), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			send := func(recs ...*kgo.Record) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}

			want := map[testkit.Key]uint64{}
			var odd []oddRecord
			start := time.Now()
			for n := 0; time.Since(start) < 5*time.Second; n++ {
				ts := time.Now()
				var batch []*kgo.Record
				for i := range 6 {
					v := fmt.Sprintf("video-%d", (n+i)%5)
					r := testkit.Like(v, ts)
					r.Partition = int32(i % 2)
					batch = append(batch, r)
					testkit.Expect(want, p, v, ts)
				}
				if odd == nil && time.Since(start) > time.Second {
					odd = oddRecords(ts)
					for _, o := range odd {
						batch = append(batch, o.rec)
						if o.reason == "" {
							testkit.Expect(want, p, o.video, ts)
						}
					}
				}
				send(batch...)
				time.Sleep(50 * time.Millisecond)
			}
			// Windows after the odd records close, with exact finals.
			out.WaitFinals(t, want, 2*time.Second+testGrace+15*time.Second)

			dead := map[string]*kgo.Record{} // source offset -> dead letter
			for _, r := range testkit.ReadAll(t, brokers, topics.DeadLetter) {
				if n := deadletter.Size(r); n > deadletter.MaxBytes {
					t.Errorf("a dead letter of %d bytes, more than %d", n, deadletter.MaxBytes)
				}
				dead[headerOf(r, record.SourceHeader)] = r
			}
			skipped := 0
			for _, o := range odd {
				src := fmt.Sprintf("%s/%d/%d", topics.Ingestion, o.rec.Partition, o.rec.Offset)
				dl, ok := dead[src]
				switch {
				case o.reason == "" && ok:
					t.Errorf("%s: counted and dead-lettered (%s)", o.name, headerOf(dl, record.ReasonHeader))
				case o.reason == "":
				case !ok && fits(o, tc.deadLetterMax) != fitsNot:
					t.Errorf("%s: not dead-lettered", o.name)
				case !ok:
					skipped++ // its dead letter cannot fit
				case fits(o, tc.deadLetterMax) == fitsNot:
					t.Errorf("%s: dead-lettered, though its dead letter cannot fit in %d bytes", o.name, tc.deadLetterMax)
					t.Errorf("%s: not dead-lettered", o.name)
				case headerOf(dl, record.ReasonHeader) != o.reason:
					t.Errorf("%s: dead-letter reason %q, want %q", o.name, headerOf(dl, record.ReasonHeader), o.reason)
				case headerOf(dl, deadletter.ValueSizeHeader) != fmt.Sprint(len(o.rec.Value)):
					t.Errorf("%s: value size header %q, want %d", o.name, headerOf(dl, deadletter.ValueSizeHeader), len(o.rec.Value))
				case !bytes.HasPrefix(o.rec.Value, dl.Value) || !bytes.HasPrefix(o.rec.Key, dl.Key):
					t.Errorf("%s: the dead letter's key and value are not prefixes of the input's", o.name)
				}
			}
			if got := sum(regs, "counter_worker_skipped_records_total"); got != float64(skipped) {
				t.Errorf("skipped records metric = %v, want %d", got, skipped)
			}
			if tc.deadLetterMax > 0 && skipped < 2 {
				t.Error("no dead letter was too large for the small dead-letter topic: the skip path was not exercised")
			}
			// The 1 MB record is cut, with its size and what was cut.
			big := dead[fmt.Sprintf("%s/0/%d", topics.Ingestion, odd[0].rec.Offset)]
			if big != nil && (len(big.Value) != deadletter.MaxValue || headerOf(big, deadletter.TruncatedHeader) != "value") {
				t.Errorf("dead letter of the 1 MB record: %d bytes of value, truncated %q", len(big.Value), headerOf(big, deadletter.TruncatedHeader))
			}
			aborted := sum(regs, "counter_worker_transactions_total", "result", "aborted")
			t.Logf("%d odd records, %d dead letters, %d skipped, %v transactions aborted", len(odd), len(dead), skipped, aborted)
			if aborted > 3 {
				t.Errorf("%v transactions aborted: odd records are retried", aborted)
			}
		})
	}
}

type fit int

const (
	fitsNot fit = iota
	fitsMaybe
	fitsSure
)

// fits tells whether the dead letter of o fits in a topic of max.message.bytes
// limit (0: the default), whatever its error detail.
func fits(o oddRecord, limit int) fit {
	if limit == 0 {
		return fitsSure
	}
	const batchOverhead = 61
	least := deadletter.Size(deadletter.Of(o.rec, o.reason, "")) + batchOverhead
	switch {
	case least > limit:
		return fitsNot
	case least+deadletter.MaxDetail > limit:
		return fitsMaybe
	}
	return fitsSure
}

func headerOf(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func setMaxMessageBytes(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr(fmt.Sprint(n))}}, topic)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("setting max.message.bytes of %s: %v", topic, err)
	}
}
