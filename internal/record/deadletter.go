package record

// Headers of records in the dead-letter topic. The record's key, value and
// timestamp are those of the input record, unchanged.
const (
	// ReasonHeader holds why the record was not counted: a videoid reason
	// (empty, invalid_utf8, too_long, bad_chars), ReasonLate, ReasonFuture or
	// ReasonBadCount.
	ReasonHeader = "counter.reason"
	// ErrorHeader holds a human-readable explanation.
	ErrorHeader = "counter.error"
	// SourceHeader holds "<topic>/<partition>/<offset>" of the input record.
	SourceHeader = "counter.source"
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
)

// Headers of likes sent with an HTTP Idempotency-Key. The n likes of one
// request carry the key and their index 0..n-1; a worker counts each
// (video, key, index) once, so a retried request is not counted again.
const (
	IdempotencyKeyHeader = "counter.idempotency_key"
	SeqHeader            = "counter.seq"
)
