package record

import "fmt"

// Headers of records in the dead-letter topic. The record's key, value and
// timestamp are those of the input record, cut to bounded sizes (see package
// deadletter, which adds headers of its own).
const (
	// ReasonHeader holds why the record was not counted: a videoid reason
	// (empty, invalid_utf8, too_long, bad_chars), ReasonLate, ReasonFuture or
	// ReasonBadCount.
	ReasonHeader = "counter.reason"
	// ErrorHeader holds a human-readable explanation.
	ErrorHeader = "counter.error"
	// SourceHeader holds "<topic>/<partition>/<offset>" of the input record.
	SourceHeader = "counter.source"
	// LateWindowsHeader lists, in a late like's dead letter, the labels of
	// the window sizes it was not counted in ("1min" or "1min,5min").
	LateWindowsHeader = "counter.late_windows"
)

// Dead-letter reasons besides the video id ones.
const (
	// ReasonLate: the record's window of at least one size had already
	// closed; it was counted in none of the closed windows.
	ReasonLate = "late"
	// ReasonFuture: the record's timestamp was too far ahead of the clock.
	ReasonFuture = "future"
	// ReasonBadCount: a record of the partitioned topic had a LikesHeader
	// that is not a valid count (only foreign producers can cause this).
	ReasonBadCount = "bad_count"
	// ReasonBadIdempotency: a like had an IdempotencyKeyHeader that
	// ParseIdempotency refuses (only foreign producers can cause this).
	ReasonBadIdempotency = "bad_idempotency"
	// ReasonProduceError: the broker refused, for good, the record the
	// worker made of this input (too large, invalid); the error header
	// holds its answer.
	ReasonProduceError = "produce_error"
)

// Headers of likes sent with an HTTP Idempotency-Key. The n likes of one
// request carry the key and their index 0..n-1; a worker counts each
// (video, key, index) once, so a retried request is not counted again.
const (
	IdempotencyKeyHeader = "counter.idempotency_key"
	SeqHeader            = "counter.seq"
)

// MaxIdempotencyKeyLen bounds an idempotency key, in bytes (the API's limit
// on the Idempotency-Key header).
const MaxIdempotencyKeyLen = 128

// MaxSeq bounds the like index of an idempotent request (the API sends at
// most 10000 likes per request).
const MaxSeq = 1 << 16

// ParseIdempotency checks the values of the IdempotencyKeyHeader and the
// SeqHeader of a like: a key of 1 to MaxIdempotencyKeyLen bytes and an
// index from 0 to MaxSeq-1 in decimal. It returns the index.
func ParseIdempotency(key, seq []byte) (int, error) {
	if len(key) == 0 || len(key) > MaxIdempotencyKeyLen {
		return 0, fmt.Errorf("idempotency key of %d bytes: want 1 to %d", len(key), MaxIdempotencyKeyLen)
	}
	if len(seq) == 0 || len(seq) > 5 {
		return 0, fmt.Errorf("like index %q: want 0 to %d", abbreviate(seq), MaxSeq-1)
	}
	n := 0
	for _, c := range seq {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("like index %q: want 0 to %d", abbreviate(seq), MaxSeq-1)
		}
		n = n*10 + int(c-'0')
	}
	if n >= MaxSeq {
		return 0, fmt.Errorf("like index %d: want 0 to %d", n, MaxSeq-1)
	}
	return n, nil
}

// abbreviate returns b for an error message, cut if long.
func abbreviate(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}
