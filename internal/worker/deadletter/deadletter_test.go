package deadletter

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/record"
)

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestSmallRecordIsCopiedWhole(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_123)
	in := &kgo.Record{Topic: "video_clicks_ingestion", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("bad id"),
		Timestamp: ts, Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}}
	dl := Of(in, "bad_chars", "character ' ' at byte 3", kgo.RecordHeader{Key: "counter.late_windows", Value: []byte("1min")})
	if string(dl.Key) != "k" || string(dl.Value) != "bad id" || !dl.Timestamp.Equal(ts) {
		t.Errorf("copy %q/%q/%v, want the input's key, value and timestamp", dl.Key, dl.Value, dl.Timestamp)
	}
	for k, want := range map[string]string{
		record.ReasonHeader: "bad_chars", record.ErrorHeader: "character ' ' at byte 3",
		record.SourceHeader: "video_clicks_ingestion/3/42", ValueSizeHeader: "6", "counter.late_windows": "1min", "trace": "abc",
	} {
		if got, _ := header(dl, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{TruncatedHeader, KeySizeHeader, HeaderCountHeader} {
		if v, ok := header(dl, k); ok {
			t.Errorf("whole copy has header %s: %q", k, v)
		}
	}
}

// Issue 10, item 3: the dead letter of a 1 MB record (or of any record)
// fits well under the broker's 1 MB limit.
func TestHugeRecordIsCut(t *testing.T) {
	var many []kgo.RecordHeader
	for i := range 5000 {
		many = append(many, kgo.RecordHeader{Key: "h" + strings.Repeat("x", i%50), Value: bytes.Repeat([]byte{'v'}, 100)})
	}
	value := bytes.Repeat([]byte("0123456789"), 104_838) // 1,048,380 bytes
	in := &kgo.Record{Topic: strings.Repeat("t", 249), Partition: 1 << 30, Offset: 1 << 62, Key: bytes.Repeat([]byte{0xff}, 1<<20),
		Value: value, Headers: append([]kgo.RecordHeader{{Key: "huge", Value: make([]byte, 1<<20)}}, many...)}
	long := strings.Repeat("é", MaxDetail) // cut at a rune boundary
	dl := Of(in, long, long, kgo.RecordHeader{Key: long, Value: []byte(long)}, kgo.RecordHeader{}, kgo.RecordHeader{}, kgo.RecordHeader{}, kgo.RecordHeader{})
	if n := Size(dl); n > MaxBytes-100 {
		t.Fatalf("dead letter of a huge record takes %d bytes, more than MaxBytes %d", n, MaxBytes)
	}
	if !bytes.Equal(dl.Value, value[:MaxValue]) || len(dl.Key) != MaxKey {
		t.Errorf("value %d bytes, key %d bytes: want the first %d and %d", len(dl.Value), len(dl.Key), MaxValue, MaxKey)
	}
	for k, want := range map[string]string{ValueSizeHeader: "1048380", KeySizeHeader: "1048576", HeaderCountHeader: "5001", TruncatedHeader: "key,value,headers"} {
		if got, _ := header(dl, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if got, _ := header(dl, record.ErrorHeader); len(got) > MaxDetail || !strings.HasPrefix(long, got) || got == "" {
		t.Errorf("error detail of %d bytes not cut to a prefix of at most %d bytes at a rune boundary", len(got), MaxDetail)
	}
	if _, ok := header(dl, "huge"); ok {
		t.Error("a header larger than the header budget was kept")
	}
}
