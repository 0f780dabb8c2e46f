package broker_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/testkit"
)

// Idempotent producing, Kafka's rule: a batch of an idempotent producer is
// written once, however often the producer sends it — also when it sends it
// again after the broker crashed before the producer got the answer (the
// producer cannot know whether the batch was written: it must retry, and
// the broker must recognise the retry by producer id, epoch and sequence).
// The broker answers a retry with the offset of the batch it has; it may
// ask for a batch sent together with a retry to be sent again (a retriable
// error), never write it twice.
//
// Each step sends batches the way a producer that never got an answer
// would, then checks the offsets answered and, at the end, that the log
// holds every record once, in order. It runs across a SIGKILL of the
// broker process (twice, so that the second reload reads a log the first
// one wrote to) and across a clean stop.
func TestContractIdempotentRetriesAreWrittenOnce(t *testing.T) {
	t.Run("crash", func(t *testing.T) {
		dir := t.TempDir()
		p := startBrokerProcess(t, dir)
		idempotentRetries(t, p.addr, func() string {
			p.kill(t)
			p = startBrokerProcess(t, dir)
			return p.addr
		})
	})
	t.Run("clean stop", func(t *testing.T) {
		dir := t.TempDir()
		start := func() *broker.Broker {
			b, err := broker.Start(broker.Config{DataDir: dir, Logger: testkit.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		b := start()
		t.Cleanup(func() { b.Close() })
		idempotentRetries(t, b.Addrs()[0], func() string {
			b.Close()
			b = start()
			return b.Addrs()[0]
		})
	})
}

func idempotentRetries(t *testing.T, addr string, restart func() string) {
	const topic = "idem"
	createTopic(t, newClient(t, []string{addr}), topic, 2, nil)
	pr := newRawProducer(t, addr, topic)
	pr.send(t, "first writes", map[int32]int64{0: 0, 1: 0}, pr.batch(0, 0, "a0", "a1", "a2"), pr.batch(1, 0, "b0"))
	pr.send(t, "first writes", map[int32]int64{0: 3}, pr.batch(0, 3, "a3", "a4"))

	pr = pr.reconnect(t, restart())
	pr.send(t, "retries after the restart", map[int32]int64{0: 3, 1: 0}, pr.batch(0, 3, "a3", "a4"), pr.batch(1, 0, "b0"))
	pr.send(t, "an older retry with a new batch", map[int32]int64{0: 0, 1: 1}, pr.batch(0, 0, "a0", "a1", "a2"), pr.batch(1, 1, "b1"))
	pr.send(t, "the next batch", map[int32]int64{0: 5}, pr.batch(0, 5, "a5"))
	pr.send(t, "a retry of a batch written after the restart", map[int32]int64{1: 1}, pr.batch(1, 1, "b1"))

	pr = pr.reconnect(t, restart())
	pr.send(t, "retries after the second restart", map[int32]int64{0: 5, 1: 1}, pr.batch(0, 5, "a5"), pr.batch(1, 1, "b1"))

	got := map[int32][]string{}
	for _, r := range readRaw(t, []string{pr.addr}, topic) {
		got[r.Partition] = append(got[r.Partition], string(r.Value))
	}
	want := map[int32][]string{0: {"a0", "a1", "a2", "a3", "a4", "a5"}, 1: {"b0", "b1"}}
	for p, w := range want {
		if !slices.Equal(got[p], w) {
			t.Errorf("partition %d holds %v, want %v", p, got[p], w)
		}
	}
}

// rawProducer sends hand-made record batches of one idempotent producer,
// so that a test can send a batch again exactly as a retrying producer does.
type rawProducer struct {
	addr    string
	cl      *kgo.Client
	topic   string
	topicID [16]byte
	id      int64
	epoch   int16
}

func newRawProducer(t *testing.T, addr, topic string) *rawProducer {
	t.Helper()
	pr := (&rawProducer{topic: topic}).reconnect(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = -1
	resp, err := req.RequestWith(ctx, pr.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("InitProducerID: %v", err)
	}
	pr.id, pr.epoch = resp.ProducerID, resp.ProducerEpoch
	return pr
}

// reconnect returns the producer connected to the broker at addr: the same
// producer id and epoch, as a client keeps them across a broker restart.
func (pr *rawProducer) reconnect(t *testing.T, addr string) *rawProducer {
	t.Helper()
	n := *pr
	n.addr, n.cl = addr, newClient(t, []string{addr})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(n.cl).ListTopics(ctx, n.topic)
	if err != nil {
		t.Fatal(err)
	}
	n.topicID = tds[n.topic].ID
	return &n
}

// partBatch is a batch for one partition.
type partBatch struct {
	partition int32
	records   []byte
}

// batch encodes an uncompressed record batch of the producer, first
// sequence seq, with one record per value.
func (pr *rawProducer) batch(partition int32, seq int32, values ...string) partBatch {
	now := time.Now().UnixMilli()
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)[1:] // encoded with Length 0: one varint byte
		r.Length = int32(len(body))
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pr.id, ProducerEpoch: pr.epoch, FirstSequence: seq, NumRecords: int32(len(values)),
		PartitionLeaderEpoch: -1, Records: recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:12], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return partBatch{partition, raw}
}

// send sends the batches in one Produce request, and again those answered
// with a retriable error (alone, as a producer does), until each is
// answered; it checks the offsets answered against want.
func (pr *rawProducer) send(t *testing.T, step string, want map[int32]int64, batches ...partBatch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[int32]int64{}
	for pending := batches; len(pending) > 0; {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = pr.topic, pr.topicID
		for _, b := range pending {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = b.partition, b.records
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, pr.cl)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var again []partBatch
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				err := kerr.ErrorForCode(sp.ErrorCode)
				switch {
				case err == nil:
					got[sp.Partition] = sp.BaseOffset
				case kerr.IsRetriable(err):
					for _, b := range pending {
						if b.partition == sp.Partition {
							again = append(again, b)
						}
					}
				default:
					t.Fatalf("%s: partition %d: %v", step, sp.Partition, err)
				}
			}
		}
		pending = again
	}
	for p, w := range want {
		if o, ok := got[p]; !ok || o != w {
			t.Errorf("%s: partition %d answered offset %d (%v), want %d", step, p, o, ok, w)
		}
	}
}
