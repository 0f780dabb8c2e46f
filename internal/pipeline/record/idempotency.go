package record

// Dedup is the idempotency record of one (video, Idempotency-Key): when it
// was first seen, and which like indexes of the request were counted. The
// worker keeps one per key for the idempotency window, in its state and its
// changelog.
type Dedup struct {
	First int64  // event time of the first like seen, Unix ms
	Seen  []byte // bitmap: bit i set when like i was counted
}

// Has reports whether like i was counted.
func (d Dedup) Has(i int) bool { return i/8 < len(d.Seen) && d.Seen[i/8]&(1<<(i%8)) != 0 }

// With returns d with like i marked counted (d is not modified).
func (d Dedup) With(i int) Dedup {
	seen := make([]byte, max(len(d.Seen), i/8+1))
	copy(seen, d.Seen)
	seen[i/8] |= 1 << (i % 8)
	return Dedup{First: d.First, Seen: seen}
}
