// Package videos is the shared video catalog: the videos live in the
// compacted Kafka topic "videos" (key: the video id; value: the
// catalog.Video JSON), which every API instance reads whole, so that all of
// them serve the same catalog and see each other's additions. An empty topic
// is seeded with catalog.Samples().
package videos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kvlog"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

// Topic is the compacted topic holding the catalog.
const Topic = "videos"

// MaxVideos bounds the catalog: Add fails with ErrFull past it.
const MaxVideos = 100_000

// Errors of Add; both wrap catalog.ErrConflict.
var (
	// ErrFull: the catalog holds MaxVideos videos.
	ErrFull = fmt.Errorf("%w: the catalog is full", catalog.ErrConflict)
	// ErrKeyReused: the idempotency key was used before for another title.
	ErrKeyReused = fmt.Errorf("%w: idempotency key already used for another title", catalog.ErrConflict)
)

// Config configures a Store.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Replication is the replication factor of the topic when created.
	Replication int16
	// Logger receives warnings; slog.Default() if nil.
	Logger *slog.Logger
}

// Store is the catalog. Its methods are safe for concurrent use.
type Store struct {
	kv  *kvlog.Log
	log *slog.Logger

	mu   sync.RWMutex
	list []catalog.Video // in the order of first appearance in the topic
	byID map[string]int  // id → index in list
}

// Open reads the catalog topic (creating it when missing), seeds it with the
// sample videos when it is empty, and returns once the catalog is loaded.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{log: cfg.Logger, byID: map[string]int{}}
	kv, err := kvlog.Open(ctx, kvlog.Config{Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Topic: Topic, Replication: cfg.Replication, Apply: s.apply, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s.kv = kv
	if err := s.seed(ctx); err != nil {
		kv.Close()
		return nil, err
	}
	return s, nil
}

// seed writes the sample videos when the catalog is empty. Instances that
// start together may both seed: the records are identical, so the catalog
// is the same.
func (s *Store) seed(ctx context.Context) error {
	s.mu.RLock()
	empty := len(s.list) == 0
	s.mu.RUnlock()
	if !empty {
		return nil
	}
	for _, v := range catalog.Samples() {
		if err := s.put(ctx, v); err != nil {
			return fmt.Errorf("seeding the catalog: %w", err)
		}
	}
	s.log.Info("catalog seeded with the sample videos", "topic", Topic, "videos", len(catalog.Samples()))
	return nil
}

// apply folds one record of the topic into the catalog.
func (s *Store) apply(r kvlog.Record) {
	id := string(r.Key)
	if err := videoid.ValidateString(id); err != nil {
		s.log.Warn("videos: ignoring a record with a bad key", "offset", r.Offset, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Value == nil {
		if i, ok := s.byID[id]; ok {
			s.list = slices.Delete(s.list, i, i+1)
			s.reindexLocked()
		}
		return
	}
	var v catalog.Video
	if err := json.Unmarshal(r.Value, &v); err != nil {
		s.log.Warn("videos: ignoring a bad record", "offset", r.Offset, "err", err)
		return
	}
	v.ID = id
	if i, ok := s.byID[id]; ok {
		s.list[i] = v
		return
	}
	s.byID[id] = len(s.list)
	s.list = append(s.list, v)
}

func (s *Store) reindexLocked() {
	clear(s.byID)
	for i, v := range s.list {
		s.byID[v.ID] = i
	}
}

// List returns the catalog, in the order videos were added (the samples
// first). The slice is the caller's.
func (s *Store) List() []catalog.Video {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.list)
}

// Title returns the title of video id, and whether it is in the catalog.
func (s *Store) Title(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.byID[id]
	if !ok {
		return "", false
	}
	return s.list[i].Title, true
}

// Add adds a video with title (see catalog.NormalizeTitle) under a new
// random id. With an idempotency key, the id is derived from the key
// instead, so that a retried request adds the video once; it reports
// whether the video was created by this call.
func (s *Store) Add(ctx context.Context, title, idempotencyKey string) (v catalog.Video, created bool, err error) {
	title, err = catalog.NormalizeTitle(title)
	if err != nil {
		return catalog.Video{}, false, err
	}
	id := NewID()
	if idempotencyKey != "" {
		id = IDForKey(idempotencyKey)
	}
	s.mu.RLock()
	i, exists := s.byID[id]
	var old catalog.Video
	if exists {
		old = s.list[i]
	}
	n := len(s.list)
	s.mu.RUnlock()
	switch {
	case exists && old.Title == title:
		return old, false, nil
	case exists:
		return catalog.Video{}, false, ErrKeyReused
	case n >= MaxVideos:
		return catalog.Video{}, false, ErrFull
	}
	v = catalog.Video{ID: id, Title: title}
	if err := s.put(ctx, v); err != nil {
		return catalog.Video{}, false, err
	}
	return v, true, nil
}

func (s *Store) put(ctx context.Context, v catalog.Video) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, []byte(v.ID), b)
	return err
}

// Close stops reading the topic.
func (s *Store) Close() { s.kv.Close() }

// NewID returns a new random video id, a version 4 UUID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// IDForKey returns the video id derived from an idempotency key: a UUID
// (version 8, custom) made of the key's SHA-256.
func IDForKey(key string) string {
	sum := sha256.Sum256([]byte("counter/videos/" + key))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
