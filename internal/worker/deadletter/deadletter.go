// Package deadletter builds the records of the dead-letter topic: a copy of
// an input record that could not be counted, with why and where it came
// from, bounded in size whatever the input. A dead letter always fits under
// any sane broker limit (MaxBytes), so that one huge or odd record can
// never make its own dead letter fail. It is pure code: no I/O.
package deadletter

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/record"
)

// Limits of the parts of the input copied into a dead letter. Longer keys
// and values are cut to their first bytes; headers are kept in order while
// they fit, the rest dropped.
const (
	MaxKey         = 1 << 10  // key bytes kept
	MaxValue       = 16 << 10 // value bytes kept
	MaxHeaders     = 32       // input headers kept
	MaxHeaderBytes = 4 << 10  // input header bytes (keys and values) kept
	MaxDetail      = 1 << 10  // bytes of the error detail and of each extra header
	MaxExtra       = 4        // extra headers kept
)

// MaxBytes bounds the encoded size of a dead letter (record overhead
// included): the limits above plus the headers the package adds, with room
// to spare. Brokers accept 1 MB by default.
const MaxBytes = 32 << 10

// Headers the package adds besides record.ReasonHeader, record.ErrorHeader
// and record.SourceHeader.
const (
	// ValueSizeHeader holds the input value's size in bytes, in decimal.
	ValueSizeHeader = "counter.value_size"
	// KeySizeHeader holds the input key's size in bytes, when the key was
	// cut.
	KeySizeHeader = "counter.key_size"
	// HeaderCountHeader holds the input's number of headers, when some
	// were dropped.
	HeaderCountHeader = "counter.header_count"
	// TruncatedHeader lists what was cut, comma-separated: key, value,
	// headers. It is absent when the copy is whole.
	TruncatedHeader = "counter.truncated"
)

// Of returns the dead letter of r: its key, value and timestamp and then
// its headers, cut to the limits, after the headers reason, error (detail),
// source (r's topic/partition/offset), value size, and what was cut, then
// extra. The caller sets the topic and partition. The returned record
// shares r's key and value bytes (cut) and extra's.
func Of(r *kgo.Record, reason, detail string, extra ...kgo.RecordHeader) *kgo.Record {
	var cut []string
	key, value := r.Key, r.Value
	if len(key) > MaxKey {
		key, cut = key[:MaxKey], append(cut, "key")
	}
	if len(value) > MaxValue {
		value, cut = value[:MaxValue], append(cut, "value")
	}
	kept, bytes := 0, 0
	for _, h := range r.Headers {
		n := len(h.Key) + len(h.Value)
		if kept == MaxHeaders || bytes+n > MaxHeaderBytes {
			break
		}
		kept, bytes = kept+1, bytes+n
	}
	if kept < len(r.Headers) {
		cut = append(cut, "headers")
	}
	headers := make([]kgo.RecordHeader, 0, 8+min(len(extra), MaxExtra)+kept)
	headers = append(headers,
		kgo.RecordHeader{Key: record.ReasonHeader, Value: []byte(clip(reason))},
		kgo.RecordHeader{Key: record.ErrorHeader, Value: []byte(clip(detail))},
		kgo.RecordHeader{Key: record.SourceHeader, Value: []byte(clip(r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)))},
		kgo.RecordHeader{Key: ValueSizeHeader, Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)},
	)
	if len(key) < len(r.Key) {
		headers = append(headers, kgo.RecordHeader{Key: KeySizeHeader, Value: strconv.AppendInt(nil, int64(len(r.Key)), 10)})
	}
	if kept < len(r.Headers) {
		headers = append(headers, kgo.RecordHeader{Key: HeaderCountHeader, Value: strconv.AppendInt(nil, int64(len(r.Headers)), 10)})
	}
	if len(cut) > 0 {
		headers = append(headers, kgo.RecordHeader{Key: TruncatedHeader, Value: []byte(strings.Join(cut, ","))})
	}
	for _, h := range extra[:min(len(extra), MaxExtra)] {
		headers = append(headers, kgo.RecordHeader{Key: clip(h.Key), Value: h.Value[:min(len(h.Value), MaxDetail)]})
	}
	headers = append(headers, r.Headers[:kept]...)
	return &kgo.Record{Key: key, Value: value, Timestamp: r.Timestamp, Headers: headers}
}

// clip cuts s to MaxDetail bytes, at a rune boundary.
func clip(s string) string {
	if len(s) <= MaxDetail {
		return s
	}
	i := MaxDetail
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Size returns the bytes r takes in a record batch, an upper bound of
// Kafka's encoding (varint lengths counted at their largest).
func Size(r *kgo.Record) int {
	const varint = 5
	n := 1 + 3*varint + 2*varint + len(r.Key) + len(r.Value) + varint // length, attributes, timestamp and offset deltas, key, value, header count
	for _, h := range r.Headers {
		n += 2*varint + len(h.Key) + len(h.Value)
	}
	return n
}
