// Package workerstatus is the record format of the workers' status topic
// (topics.WorkerStatus): each worker writes, keyed by its id, whether it is
// ready and which partitions it is restoring, so that any API instance can
// show it in the cluster view. Encoding and parsing are pure; the workers
// write the records (package worker) and the API reads them (package
// clusterview).
//
// A record is small JSON:
//
//	{"v":1,"worker":"w1","ready":false,"restoring":[{"partition":3,"restored":42000,"total":100000}],"at":"2026-12-01T21:30:00.123Z"}
package workerstatus

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the format version this package writes. Parse accepts later
// versions too: a newer worker may add fields, which older readers ignore.
const Version = 1

// The timing the workers and readers agree on.
const (
	// Heartbeat is how often a worker writes its status when nothing
	// changes and it is not restoring.
	Heartbeat = 10 * time.Second
	// RestoringEvery is how often a worker writes its status while it is
	// restoring partitions (progress moves).
	RestoringEvery = 2 * time.Second
	// MaxAge is how old a status may be and still count: an older one (a
	// worker that stopped writing, a clock far off) is unknown, whatever it
	// said. Three heartbeats.
	MaxAge = 3 * Heartbeat
)

// Limits of a record a reader accepts.
const (
	// MaxValueBytes bounds a record's value.
	MaxValueBytes = 64 << 10
	// MaxIDBytes bounds a worker id.
	MaxIDBytes = 255
	// MaxRestoring bounds the partitions of one status.
	MaxRestoring = 10000
)

// Status is one worker's status.
type Status struct {
	// Version is the format version (Version when written here).
	Version int `json:"v"`
	// Worker is the worker's id (its --id), also the record's key.
	Worker string `json:"worker"`
	// Ready is whether the worker has joined the group and restored the
	// state of every partition it owns (its /readyz).
	Ready bool `json:"ready"`
	// Restoring lists the partitions whose state the worker is restoring,
	// in partition order; empty when it restores none.
	Restoring []Restore `json:"restoring"`
	// At is when the worker wrote the status, by its clock.
	At time.Time `json:"at"`
}

// Restore is the progress of one partition's restore.
type Restore struct {
	// Partition of video_clicks_partitioned (and of the changelog).
	Partition int32 `json:"partition"`
	// Restored is how many changelog offsets have been replayed so far.
	Restored int64 `json:"restored"`
	// Total is how many changelog offsets the restore replays; 0 when
	// there is nothing to replay (the partition's state is being loaded
	// from the local store).
	Total int64 `json:"total"`
}

// Fraction returns how much of the restore is done, from 0 to 1 (1 when
// there is nothing to replay).
func (r Restore) Fraction() float64 {
	if r.Total <= 0 {
		return 1
	}
	return float64(r.Restored) / float64(r.Total)
}

// Encode returns the record of s: its key (the worker id) and its JSON
// value, with Version set.
func Encode(s Status) (key, value []byte, err error) {
	s.Version = Version
	if s.Restoring == nil {
		s.Restoring = []Restore{}
	}
	if err := check(s); err != nil {
		return nil, nil, err
	}
	value, err = json.Marshal(s)
	if err != nil {
		return nil, nil, err
	}
	return []byte(s.Worker), value, nil
}

// Parse reads a status record. It refuses (with an error saying why)
// anything a well-behaved worker does not write: a value that is not a JSON
// object of this format, over MaxValueBytes, of version 0, without a worker
// id or time, whose worker differs from the key, or with progress that
// makes no sense. A tombstone (nil value) is an error too: callers that
// honour tombstones check for them first.
func Parse(key, value []byte) (Status, error) {
	if value == nil {
		return Status{}, errors.New("tombstone")
	}
	if len(value) > MaxValueBytes {
		return Status{}, fmt.Errorf("value of %d bytes, over %d", len(value), MaxValueBytes)
	}
	var s Status
	if err := json.Unmarshal(value, &s); err != nil {
		return Status{}, fmt.Errorf("not a status: %w", err)
	}
	if s.Version < 1 {
		return Status{}, fmt.Errorf("version %d", s.Version)
	}
	if s.Worker != string(key) {
		return Status{}, fmt.Errorf("worker %q under key %q", s.Worker, key)
	}
	if err := check(s); err != nil {
		return Status{}, err
	}
	if s.Restoring == nil {
		s.Restoring = []Restore{}
	}
	return s, nil
}

// check validates the fields of s.
func check(s Status) error {
	if s.Worker == "" || len(s.Worker) > MaxIDBytes || !utf8.ValidString(s.Worker) {
		return fmt.Errorf("worker id %q: must be 1-%d bytes of UTF-8", s.Worker, MaxIDBytes)
	}
	if s.At.IsZero() {
		return errors.New("no time")
	}
	if len(s.Restoring) > MaxRestoring {
		return fmt.Errorf("%d partitions restoring, over %d", len(s.Restoring), MaxRestoring)
	}
	for _, r := range s.Restoring {
		if r.Partition < 0 || r.Total < 0 || r.Restored < 0 || r.Restored > r.Total {
			return fmt.Errorf("partition %d: restored %d of %d", r.Partition, r.Restored, r.Total)
		}
	}
	return nil
}

// Fresh reports whether s, written at s.At, still counts at now: it is at
// most MaxAge old (and not more than MaxAge ahead, for a worker whose clock
// is off).
func (s Status) Fresh(now time.Time) bool {
	age := now.Sub(s.At)
	return age <= MaxAge && age >= -MaxAge
}
