package ingest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/ingest/ingesttest"
	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/testkit"
)

// randomIDs returns n distinct valid video ids of 1 to 128 characters.
func randomIDs(n int, seed uint64) []string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
	rng := rand.New(rand.NewPCG(seed, seed))
	seen := map[string]bool{}
	var ids []string
	for len(ids) < n {
		b := make([]byte, 1+rng.IntN(128))
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		if !seen[string(b)] {
			seen[string(b)] = true
			ids = append(ids, string(b))
		}
	}
	return ids
}

// The sink's partitioner places every key where kgo's default partitioner
// (and Kafka's) places a keyed record, for any partition count, whether it
// hashes the key or remembers it.
func TestKeyPartitionerMatchesDefault(t *testing.T) {
	ours := keyPartitioner{}.ForTopic("t")
	sticky := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	// kgo's default: kgo.UniformBytesPartitioner(64<<10, true, true, nil).
	uniform := kgo.UniformBytesPartitioner(64<<10, true, true, nil).ForTopic("t").(kgo.TopicBackupPartitioner)
	ids := append(randomIDs(2000, 1), idA, idB)
	for i, id := range ids {
		key := []byte(id)
		for _, n := range []int{1, 2, 3, 6, 7, 12, 64, 100 + i%900} {
			r := &kgo.Record{Key: key, Value: key}
			if !ours.RequiresConsistency(r) {
				t.Fatal("RequiresConsistency = false for a keyed record")
			}
			want := sticky.Partition(r, n)
			if u := uniform.PartitionByBackup(r, n, nil); u != want {
				t.Fatalf("kgo's partitioners disagree on %q among %d: %d, %d", id, n, want, u)
			}
			if p := int(partition.ForKey(key, int32(n))); p != want {
				t.Fatalf("partition.ForKey(%q, %d) = %d, kgo says %d", id, n, p, want)
			}
			// Twice: the second time from the memo, then with a copy of
			// the key (other bytes, same contents).
			for _, k := range [][]byte{key, key, []byte(id)} {
				if got := ours.Partition(&kgo.Record{Key: k, Value: k}, n); got != want {
					t.Fatalf("Partition(%q) among %d = %d, want %d", id, n, got, want)
				}
			}
		}
	}
}

// Records of several requests interleaved, as concurrent requests produce
// them, are each placed by their own key.
func TestKeyPartitionerInterleaved(t *testing.T) {
	ours := keyPartitioner{}.ForTopic("t")
	ids := randomIDs(50, 2)
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = []byte(id)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 10000 {
		k := keys[rng.IntN(len(keys))]
		if got, want := ours.Partition(&kgo.Record{Key: k}, 6), int(partition.ForKey(k, 6)); got != want {
			t.Fatalf("Partition(%q) = %d, want %d", k, got, want)
		}
	}
}

// partitionsByKey returns the partition of each key in recs, failing the test
// if a key is in two partitions.
func partitionsByKey(t *testing.T, recs []*kgo.Record) map[string]int32 {
	t.Helper()
	m := map[string]int32{}
	for _, r := range recs {
		if p, ok := m[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %q in partitions %d and %d", r.Key, p, r.Partition)
		}
		m[string(r.Key)] = r.Partition
	}
	return m
}

// Likes sent through the sink land in the partitions a default kgo producer
// puts the same keys in.
func TestSendLikesPlacesKeysAsDefaultProducer(t *testing.T) {
	const other = "default_producer"
	c := ingesttest.NewCluster(t, 7, []string{DefaultTopic, other})
	s := newSink(t, c.ListenAddrs(), 5*time.Second)
	ids := randomIDs(200, 4)
	for i, id := range ids {
		if err := s.Send(context.Background(), Likes{VideoID: id, Count: 1 + i%3}); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(other))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, id := range ids {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(id), Value: []byte(id)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := partitionsByKey(t, testkit.ReadAll(t, c.ListenAddrs(), DefaultTopic))
	want := partitionsByKey(t, testkit.ReadAll(t, c.ListenAddrs(), other))
	if len(got) != len(ids) || len(want) != len(ids) {
		t.Fatalf("%d and %d keys read, want %d", len(got), len(want), len(ids))
	}
	used := map[int32]bool{}
	for _, id := range ids {
		if got[id] != want[id] || got[id] != partition.ForKey([]byte(id), 7) {
			t.Errorf("%q: sink put it in partition %d, default producer in %d, ForKey says %d", id, got[id], want[id], partition.ForKey([]byte(id), 7))
		}
		used[got[id]] = true
	}
	if len(used) != 7 {
		t.Errorf("only partitions %v used", used)
	}
}

// When partitions are added to the topic, the sink places keys among all of
// them once its client has seen the new count, as a default producer does.
func TestSendLikesFollowsAddedPartitions(t *testing.T) {
	c := ingesttest.NewCluster(t, 3, []string{DefaultTopic})
	s := newSink(t, c.ListenAddrs(), 5*time.Second)
	// An id that moves when the topic goes from 3 to 5 partitions.
	var id string
	for _, cand := range randomIDs(100, 5) {
		if partition.ForKey([]byte(cand), 3) != partition.ForKey([]byte(cand), 5) {
			id = cand
			break
		}
	}
	if err := s.SendLikes(context.Background(), id, 1); err != nil {
		t.Fatal(err)
	}
	admin := kadm.NewClient(s.cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.CreatePartitions(ctx, 2, DefaultTopic); err != nil {
		t.Fatal(err)
	}
	want, before := partition.ForKey([]byte(id), 5), partition.ForKey([]byte(id), 3)
	for {
		s.cl.ForceMetadataRefresh()
		if err := s.SendLikes(ctx, id, 1); err != nil {
			t.Fatal(err)
		}
		moved := false
		for _, r := range testkit.ReadAll(t, c.ListenAddrs(), DefaultTopic) {
			switch r.Partition {
			case want:
				moved = true
			case before:
			default:
				t.Fatalf("like in partition %d, want %d (or %d before the refresh)", r.Partition, want, before)
			}
		}
		if moved {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the sink never used the added partitions")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
