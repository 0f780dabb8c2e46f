package store

import (
	"encoding/binary"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Key layout. Every key starts with the 4-byte big-endian partition of the
// partitioned topic whose state it belongs to, then a kind byte:
//
//	[partition][ 'c' ][size ms:8][start ms:8, sign-flipped][video id]  -> count, uint64
//	[partition][ 'w' ][source partition:4]                             -> SourceMark, 12 bytes
//	  (source 0xFFFFFFFF: the partition's own watermark, which never goes back; see task.PartitionSource)
//	[partition][ 'd' ]                                                 -> last demo tick sent, int64
//	[partition][ 'i' ][video id][0x00][idempotency key]                -> Dedup: first seen, seqs seen
//	[partition][ 'k' ]                                                 -> number of 'c' entries, int64
//	[partition][ 'o' ]                                                 -> next changelog offset, int64
//
// Counts of one window are contiguous and ordered by (size, start), so a
// window is closed or deleted with one range scan. The changelog key of a
// 'c' or 'w' entry is the key without its partition prefix (the changelog
// partition is the partition), likewise for 'd', 'i' and 'k'; 'o' entries
// are local bookkeeping only.
const (
	kindCount     = 'c'
	kindWatermark = 'w'
	kindOffset    = 'o'
	kindDemo      = 'd'
	kindDedup     = 'i'
	kindKeys      = 'k'

	partLen     = 4
	countHdrLen = partLen + 1 + 8 + 8 // up to the video id
)

func appendPartition(dst []byte, p int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(p))
}

// flip maps int64 to uint64 so that byte order matches numeric order.
func flip(v int64) uint64 { return uint64(v) ^ 1<<63 }

// CountKey appends the key of the count of id in window w of partition p.
func CountKey(dst []byte, p int32, w window.Window, id []byte) []byte {
	dst = appendWindowPrefix(dst, p, w)
	return append(dst, id...)
}

func appendWindowPrefix(dst []byte, p int32, w window.Window) []byte {
	dst = appendPartition(dst, p)
	dst = append(dst, kindCount)
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.Size))
	return binary.BigEndian.AppendUint64(dst, flip(w.Start))
}

// WindowRange returns the bounds [lower, upper) of every count of window w.
func WindowRange(p int32, w window.Window) (lower, upper []byte) {
	lower = appendWindowPrefix(nil, p, w)
	return lower, prefixEnd(lower)
}

// ParseCountKey splits a count key. ok is false for keys of other kinds.
func ParseCountKey(k []byte) (p int32, w window.Window, id []byte, ok bool) {
	if len(k) < countHdrLen || k[partLen] != kindCount {
		return 0, window.Window{}, nil, false
	}
	p = int32(binary.BigEndian.Uint32(k))
	w.Size = int64(binary.BigEndian.Uint64(k[partLen+1:]))
	w.Start = int64(binary.BigEndian.Uint64(k[partLen+9:]) ^ 1<<63)
	return p, w, k[countHdrLen:], true
}

// WatermarkKey returns the key of the watermark of ingestion partition
// source as seen by partition p.
func WatermarkKey(p, source int32) []byte {
	k := appendPartition(make([]byte, 0, partLen+5), p)
	k = append(k, kindWatermark)
	return binary.BigEndian.AppendUint32(k, uint32(source))
}

// ParseWatermarkKey returns the source of a watermark key.
func ParseWatermarkKey(k []byte) (source int32, ok bool) {
	if len(k) != partLen+5 || k[partLen] != kindWatermark {
		return 0, false
	}
	return int32(binary.BigEndian.Uint32(k[partLen+1:])), true
}

func offsetKey(p int32) []byte { return append(appendPartition(nil, p), kindOffset) }

// KeyCountKey returns the key of the number of counts partition p holds
// (see Store.KeyCount). Workers write it to the changelog too, after the
// counts of each transaction that changes any.
func KeyCountKey(p int32) []byte { return append(appendPartition(nil, p), kindKeys) }

// localOnly reports whether changelog key ck names an entry a Loader writes
// itself: the changelog offset (local bookkeeping, never in a changelog
// written by workers) and the key count (which it counts).
func localOnly(ck []byte) bool {
	return len(ck) == 1 && (ck[0] == kindOffset || ck[0] == kindKeys)
}

// partitionRange returns the bounds of every key of partition p.
func partitionRange(p int32) (lower, upper []byte) {
	lower = appendPartition(nil, p)
	return lower, prefixEnd(lower)
}

// DemoKey returns the key of the last demo tick sent by partition p's owner.
func DemoKey(p int32) []byte { return append(appendPartition(nil, p), kindDemo) }

// DedupKey appends the key of the idempotency record of (video, key) in
// partition p. Video ids cannot contain 0x00, so the separator is
// unambiguous.
func DedupKey(dst []byte, p int32, video, key []byte) []byte {
	dst = appendPartition(dst, p)
	dst = append(dst, kindDedup)
	dst = append(dst, video...)
	dst = append(dst, 0)
	return append(dst, key...)
}

// DedupRange returns the bounds of partition p's idempotency records.
func DedupRange(p int32) (lower, upper []byte) {
	lower = append(appendPartition(nil, p), kindDedup)
	return lower, prefixEnd(lower)
}

// Dedup is the idempotency record of one (video, Idempotency-Key), stored
// under DedupKey.
type Dedup = record.Dedup

// EncodeDedup encodes d.
func EncodeDedup(d Dedup) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(d.Seen)), uint64(d.First)), d.Seen...)
}

// DecodeDedup decodes EncodeDedup.
func DecodeDedup(b []byte) (Dedup, bool) {
	if len(b) < 8 {
		return Dedup{}, false
	}
	return Dedup{First: int64(binary.BigEndian.Uint64(b)), Seen: append([]byte(nil), b[8:]...)}, true
}

// ChangelogKey returns the changelog record key of a state key.
func ChangelogKey(stateKey []byte) []byte { return stateKey[partLen:] }

// StateKey returns the state key of changelog key ck of partition p.
func StateKey(p int32, ck []byte) []byte {
	return append(appendPartition(make([]byte, 0, partLen+len(ck)), p), ck...)
}

// PartitionOf returns the partition a state key belongs to.
func PartitionOf(stateKey []byte) int32 { return int32(binary.BigEndian.Uint32(stateKey)) }

// EncodeUint64 and DecodeUint64 encode counts; EncodeInt64 and DecodeInt64
// watermarks and offsets. All are 8 bytes big-endian.
func EncodeUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// DecodeUint64 decodes EncodeUint64; ok is false for a value of the wrong size.
func DecodeUint64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// EncodeInt64 encodes a signed value.
func EncodeInt64(v int64) []byte { return EncodeUint64(uint64(v)) }

// DecodeInt64 decodes EncodeInt64.
func DecodeInt64(b []byte) (int64, bool) {
	v, ok := DecodeUint64(b)
	return int64(v), ok
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // all 0xff: no upper bound
}

// EncodeSourceMark encodes the latest mark of a source in 12 bytes (its
// source is in the key: see WatermarkKey).
func EncodeSourceMark(m watermark.Mark) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(m.Watermark))
	return binary.BigEndian.AppendUint32(b, uint32(m.Sources))
}

// DecodeSourceMark decodes EncodeSourceMark.
func DecodeSourceMark(b []byte) (watermark.Mark, bool) {
	if len(b) != 12 {
		return watermark.Mark{}, false
	}
	return watermark.Mark{Watermark: int64(binary.BigEndian.Uint64(b)), Sources: int32(binary.BigEndian.Uint32(b[8:]))}, true
}
