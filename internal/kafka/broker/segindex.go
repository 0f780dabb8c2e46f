package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// kfake keeps each partition's log in segment files (<base>.dat, the record
// batches as on the wire) and, next to each, an index (<base>.idx) of one
// fixed-size entry per batch, in the same order: the partition leader epoch,
// a timestamp, and whether the batch was written inside a transaction
// (inTx). It appends a batch with two writes, the batch to the segment, then
// its entry to the index, and on load it pairs the n-th entry with the n-th
// batch. A SIGKILL between the two writes leaves a segment one batch longer
// than its index: kfake loads that batch with inTx false, and every batch it
// appends after the restart gets the entry of the one before it — data
// batches of transactions read inTx false, their markers true.
//
// inTx is all kfake's full replay (the load after an unclean stop) goes by to
// find transactions: a transaction whose batches read inTx false is not seen
// as open at the crash, so it gets no aborted-transaction entry, and the
// ABORT marker the start-up recovery writes for it does not add one either.
// read_committed readers are then served its records as committed. That is
// how kill -9 of counter dev double-counted likes: a worker's transaction cut
// by the kill was aborted, its offsets not committed, but its changelog
// records were restored as committed state, and the inputs counted again.
//
// repairSegmentIndexes runs before kfake loads a data dir: every segment
// with more batches than index entries (or an entry that is not well formed)
// gets its index rewritten from the batches themselves. The entries follow
// what kfake writes at produce time: the batch's partition leader epoch (its
// header field, which kfake sets to the partition's epoch), the largest
// timestamp of the partition so far, and inTx for the transactional batches
// that are not markers.

// Index entry layout (kfake pkg/kfake/persist.go, encodeIndexEntry): version
// (1 byte), checksum (low byte of CRC-32C of bytes 2..14), epoch (4 bytes,
// little endian), max earlier timestamp (8 bytes, little endian), inTx (1
// byte).
const (
	idxEntrySize     = 15
	idxEntryVersion  = 1 // kfake's currentPersistVersion
	batchHeaderBytes = 61
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// segIndexEntry is what an index entry holds.
type segIndexEntry struct {
	epoch        int32
	maxEarlierTS int64
	inTx         bool
}

func (e segIndexEntry) encode() [idxEntrySize]byte {
	var buf [idxEntrySize]byte
	buf[0] = idxEntryVersion
	binary.LittleEndian.PutUint32(buf[2:6], uint32(e.epoch))
	binary.LittleEndian.PutUint64(buf[6:14], uint64(e.maxEarlierTS))
	if e.inTx {
		buf[14] = 1
	}
	buf[1] = byte(crc32.Checksum(buf[2:], crc32c))
	return buf
}

// wellFormed reports whether an index entry passes kfake's check.
func wellFormed(buf []byte) bool {
	return len(buf) == idxEntrySize && byte(crc32.Checksum(buf[2:], crc32c)) == buf[1]
}

// repairSegmentIndexes rewrites the index of every segment of the data dir
// whose index does not cover its batches, and returns how many it rewrote.
func repairSegmentIndexes(dataDir string, log *slog.Logger) (int, error) {
	root := filepath.Join(dataDir, "partitions")
	parts, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	repaired := 0
	for _, d := range parts {
		if !d.IsDir() {
			continue
		}
		n, err := repairPartitionIndexes(filepath.Join(root, d.Name()), log)
		if err != nil {
			return repaired, fmt.Errorf("partition dir %s: %w", d.Name(), err)
		}
		repaired += n
	}
	return repaired, nil
}

// repairPartitionIndexes checks the segments of one partition dir, in offset
// order (the timestamps run across them).
func repairPartitionIndexes(dir string, log *slog.Logger) (int, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var bases []int64
	for _, f := range files {
		name, ok := strings.CutSuffix(f.Name(), ".dat")
		if !ok {
			continue
		}
		if base, err := strconv.ParseInt(name, 10, 64); err == nil {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	repaired := 0
	maxTS := int64(-1)
	for _, base := range bases {
		seg := filepath.Join(dir, fmt.Sprintf("%d.dat", base)) // kfake's segmentFileName
		entries, err := segmentEntries(seg, &maxTS)
		if err != nil {
			return repaired, err
		}
		idx := filepath.Join(dir, fmt.Sprintf("%d.idx", base)) // kfake's indexFileName
		ok, err := indexCovers(idx, len(entries))
		if err != nil {
			return repaired, err
		}
		if ok {
			continue
		}
		buf := make([]byte, 0, len(entries)*idxEntrySize)
		for _, e := range entries {
			enc := e.encode()
			buf = append(buf, enc[:]...)
		}
		if err := writeFileAtomic(idx, buf); err != nil {
			return repaired, err
		}
		repaired++
		log.Warn("rebuilt the index of a log segment cut short by the last stop",
			"segment", seg, "batches", len(entries))
	}
	return repaired, nil
}

// segmentEntries reads the batch headers of a segment and returns the index
// entry of each complete batch; maxTS carries the largest timestamp of the
// partition so far. A torn batch at the end (kfake truncates it) ends the
// walk.
func segmentEntries(path string, maxTS *int64) ([]segIndexEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	var entries []segIndexEntry
	var h [batchHeaderBytes]byte
	for pos := int64(0); pos+batchHeaderBytes <= size; {
		if _, err := f.ReadAt(h[:], pos); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		length := int64(int32(binary.BigEndian.Uint32(h[8:12])))
		if length < batchHeaderBytes-12 || pos+12+length > size {
			break
		}
		attrs := binary.BigEndian.Uint16(h[21:23])
		control, transactional := attrs&0x20 != 0, attrs&0x10 != 0
		*maxTS = max(*maxTS, int64(binary.BigEndian.Uint64(h[35:43])))
		entries = append(entries, segIndexEntry{
			epoch:        int32(binary.BigEndian.Uint32(h[12:16])),
			maxEarlierTS: *maxTS,
			inTx:         transactional && !control,
		})
		pos += 12 + length
	}
	return entries, nil
}

// indexCovers reports whether the index file holds a well-formed entry for
// each of the segment's batches (kfake drops extra entries itself).
func indexCovers(path string, batches int) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return batches == 0, nil
	}
	if err != nil {
		return false, err
	}
	if len(b) < batches*idxEntrySize {
		return false, nil
	}
	for i := range batches {
		if !wellFormed(b[i*idxEntrySize : (i+1)*idxEntrySize]) {
			return false, nil
		}
	}
	return true, nil
}
