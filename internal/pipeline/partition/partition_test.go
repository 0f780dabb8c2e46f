package partition

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Reference values from Apache Kafka's own murmur2 test (signed ints).
func TestMurmur2KafkaVectors(t *testing.T) {
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range cases {
		if got := int32(murmur2([]byte(in))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

// ForKey must agree with franz-go's Kafka-compatible key partitioner, which
// is what other clients (and our own HTTP producer) use.
func TestForKeyMatchesFranzGo(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for n := int32(1); n <= 12; n++ {
		for i := 0; i < 500; i++ {
			key := []byte(fmt.Sprintf("video-%d-%x", i, i*7919))
			want := p.Partition(&kgo.Record{Key: key}, int(n))
			if got := ForKey(key, n); int(got) != want {
				t.Fatalf("ForKey(%q,%d) = %d, franz-go says %d", key, n, got, want)
			}
		}
	}
}
