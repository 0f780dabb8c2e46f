package ingest

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/partition"
)

// keyPartitioner places every record as Kafka's default partitioner (and
// kgo's) places a keyed record: partition.ForKey, murmur2 of the key modulo
// the topic's partition count. The count is the one the client knows when it
// partitions the record, as with kgo's default, so placement follows the
// topic when partitions are added.
//
// Unlike the default, it hashes a key once for the records of one request:
// they share the key's bytes (one backing array), and the partition of the
// last key is remembered until a record with other bytes comes.
type keyPartitioner struct{}

// ForTopic returns the partitioner of one topic. The client calls its
// methods under a lock of the topic, which guards the memo.
func (keyPartitioner) ForTopic(string) kgo.TopicPartitioner { return new(topicPartitioner) }

// topicPartitioner remembers the partition of the last key it hashed.
type topicPartitioner struct {
	key  []byte // the last key, kept alive: equal backing arrays mean equal keys
	n    int    // the partition count it was placed among
	part int
}

// RequiresConsistency is true: a key always maps to the same partition,
// among all partitions of the topic, writable or not (as kgo does for keyed
// records).
func (*topicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

// Partition returns the partition of r.Key among n partitions.
func (p *topicPartitioner) Partition(r *kgo.Record, n int) int {
	if n != p.n || !sameBytes(r.Key, p.key) {
		p.key, p.n, p.part = r.Key, n, int(partition.ForKey(r.Key, int32(n)))
	}
	return p.part
}

// sameBytes reports whether a and b are the same non-empty slice of the same
// backing array: then they have the same contents, since the sink never
// modifies a key once it is produced.
func sameBytes(a, b []byte) bool {
	return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0]
}
