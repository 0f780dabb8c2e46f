package broker_test

// The broker contract suite: every Kafka guarantee the pipeline relies on,
// checked against the embedded broker. Each test names the Kafka rule it
// checks. A failure here means the pipeline's exactly-once promise does not
// hold on this broker, whatever the pipeline's own tests say.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/testkit"
)

// startBroker starts an embedded broker on a free port (in memory when dir
// is empty), closed when the test ends.
func startBroker(t testing.TB, dir string) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{DataDir: dir, MinSessionTimeout: 100 * time.Millisecond, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func newClient(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, cl *kgo.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// seeds returns how many random seeds a randomized property runs:
// COUNTER_CONTRACT_SEEDS overrides the default (a longer hunt by hand).
func seeds(def int) int {
	if n, err := strconv.Atoi(os.Getenv("COUNTER_CONTRACT_SEEDS")); err == nil && n > 0 {
		return n
	}
	return def
}

// txnPlan is a random history of transactions over a topic's partitions.
type txnPlan struct {
	partitions int32
	// txns in order; each writes recs records to some partitions.
	txns []plannedTxn
	// fetch limits of the reader
	maxBytes, partMaxBytes int32
	// producer batch limit, so that transactions span many batches
	batchBytes int32
}

type plannedTxn struct {
	commit bool
	recs   map[int32]int // partition -> records
	size   int           // value size of every record
}

func randomPlan(r *rand.Rand) txnPlan {
	p := txnPlan{
		partitions:   1 + r.Int32N(24),
		maxBytes:     1024 << r.IntN(7), // 1 KiB .. 64 KiB
		partMaxBytes: 1024 << r.IntN(8), // 1 KiB .. 128 KiB
		batchBytes:   16384 << r.IntN(5),
	}
	n := 3 + r.IntN(8)
	for i := range n {
		tx := plannedTxn{commit: r.IntN(2) == 0 || i == n-1, recs: map[int32]int{}, size: 10 + r.IntN(2000)}
		for part := range p.partitions {
			if i == n-1 || r.IntN(3) > 0 {
				tx.recs[part] = 1 + r.IntN(120)
			}
		}
		p.txns = append(p.txns, tx)
	}
	return p
}

func (p txnPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d partitions, fetch max %d B (partition %d B), batches ≤ %d B;", p.partitions, p.maxBytes, p.partMaxBytes, p.batchBytes)
	for _, tx := range p.txns {
		n := 0
		for _, c := range tx.recs {
			n += c
		}
		fmt.Fprintf(&b, " %s(%d×%dB)", map[bool]string{true: "commit", false: "abort"}[tx.commit], n, tx.size)
	}
	return b.String()
}

// value encodes what a record is: its transaction, whether that transaction
// commits, its partition and its sequence number there, padded to size.
func value(txn int, commit bool, part int32, seq, size int) []byte {
	v := fmt.Appendf(nil, "%d/%t/%d/%d/", txn, commit, part, seq)
	for len(v) < size {
		v = append(v, 'x')
	}
	return v
}

// write runs the plan's transactions and returns the committed records'
// values per partition, in order.
func (p txnPlan) write(t testing.TB, addrs []string, topic, txnID string) map[int32][]string {
	t.Helper()
	cl := newClient(t, addrs, kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(p.batchBytes), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := map[int32][]string{}
	for i, tx := range p.txns {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		// Round robin over the partitions, so that batches of many
		// sizes are cut by the producer's linger and batch limit.
		for seq := range 120 {
			for part := range p.partitions {
				if seq >= tx.recs[part] {
					continue
				}
				v := value(i, tx.commit, part, seq, tx.size)
				cl.Produce(ctx, &kgo.Record{Partition: part, Value: v}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
				if tx.commit {
					want[part] = append(want[part], string(v))
				}
			}
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(tx.commit)); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// Kafka rule: a read_committed consumer never receives a record of an
// aborted transaction, and receives every record of every committed one,
// once and in order — whatever its fetch limits (fetch.max.bytes,
// max.partition.fetch.bytes), the number of partitions and the batch sizes.
func TestContractReadCommittedNeverReturnsAbortedRecords(t *testing.T) {
	addrs := startBroker(t, "").Addrs()
	admin := newClient(t, addrs)
	for seed := range uint64(seeds(12)) {
		r := rand.New(rand.NewPCG(seed, 9))
		plan := randomPlan(r)
		topic := fmt.Sprintf("rc-%d", seed)
		createTopic(t, admin, topic, plan.partitions, nil)
		want := plan.write(t, addrs, topic, topic)
		got := readCommitted(t, addrs, topic, plan, want)
		for part := range plan.partitions {
			if g, w := got[part], want[part]; strings.Join(g, ",") != strings.Join(w, ",") {
				t.Fatalf("seed %d (%s): partition %d: read %d committed records, want %d\n(replay: COUNTER_CONTRACT_SEEDS=%d)", seed, plan, part, len(g), len(w), seed+1)
			}
		}
	}
}

// readCommitted reads topic read_committed with the plan's fetch limits
// until every wanted record arrived, failing at once on a record of an
// aborted transaction.
func readCommitted(t *testing.T, addrs []string, topic string, plan txnPlan, want map[int32][]string) map[int32][]string {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	for part := range plan.partitions {
		offsets[part] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, addrs, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxBytes(plan.maxBytes),
		kgo.FetchMaxPartitionBytes(plan.partMaxBytes), kgo.FetchMaxWait(100*time.Millisecond))
	total := 0
	for _, w := range want {
		total += len(w)
	}
	got := map[int32][]string{}
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for n < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of %d committed records before the timeout", plan, n, total)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(rec *kgo.Record) {
			if strings.Contains(string(rec.Value[:min(len(rec.Value), 40)]), "/false/") {
				t.Fatalf("%s: read_committed returned a record of an aborted transaction: partition %d offset %d (%.30s)", plan, rec.Partition, rec.Offset, rec.Value)
			}
			got[rec.Partition] = append(got[rec.Partition], string(rec.Value))
			n++
		})
	}
	return got
}

// Kafka rule (Fetch protocol, v4+): a read_committed Fetch response lists,
// for every partition it returns batches of, every aborted transaction that
// overlaps the returned offsets — the list is what lets a client drop those
// batches. Checked on the wire, response by response, with small limits so
// that responses end in the middle of partitions.
func TestContractAbortedTransactionListsForEveryPartitionWithData(t *testing.T) {
	addrs := startBroker(t, "").Addrs()
	admin := newClient(t, addrs)
	for seed := range uint64(seeds(8)) {
		r := rand.New(rand.NewPCG(seed, 11))
		plan := randomPlan(r)
		topic := fmt.Sprintf("wire-%d", seed)
		createTopic(t, admin, topic, plan.partitions, nil)
		want := plan.write(t, addrs, topic, topic)
		total := 0
		for _, w := range want {
			total += len(w)
		}
		if n := fetchRaw(t, admin, topic, plan); n != total {
			t.Fatalf("seed %d (%s): %d committed records on the wire, want %d", seed, plan, n, total)
		}
	}
}

// fetchRaw reads every partition of topic with raw read_committed Fetch
// requests (no fetch session) until each partition's last stable offset,
// checks each response's aborted-transaction lists against the batches it
// carries, and returns the number of committed records read.
func fetchRaw(t *testing.T, cl *kgo.Client, topic string, plan txnPlan) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	topicID := tds[topic].ID
	next := make([]int64, plan.partitions)
	done := make([]bool, plan.partitions)
	committed := 0
	for remaining := int(plan.partitions); remaining > 0; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.IsolationLevel = 1
		req.MaxBytes = plan.maxBytes
		req.SessionEpoch = -1 // no session: every partition named in every request
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rt.TopicID = topicID
		for part := range plan.partitions {
			if done[part] {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = part
			rp.FetchOffset = next[part]
			rp.PartitionMaxBytes = plan.partMaxBytes
			rp.LogStartOffset = -1
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("partition %d: error %d", rp.Partition, rp.ErrorCode)
				}
				aborted := map[int64]int64{} // producer id -> first offset
				for _, at := range rp.AbortedTransactions {
					if f, ok := aborted[at.ProducerID]; !ok || at.FirstOffset < f {
						aborted[at.ProducerID] = at.FirstOffset
					}
				}
				last, n := checkBatches(t, plan, rp, aborted)
				committed += n
				if last >= 0 {
					next[rp.Partition] = last + 1
				}
				if next[rp.Partition] >= rp.LastStableOffset && !done[rp.Partition] {
					done[rp.Partition] = true
					remaining--
				}
			}
		}
	}
	return committed
}

// checkBatches decodes the batches of one partition of a response; a batch
// of an aborted transaction must be covered by the response's list (an entry
// of its producer starting at or before it). It returns the last offset read
// and the number of committed data records.
func checkBatches(t *testing.T, plan txnPlan, rp kmsg.FetchResponseTopicPartition, aborted map[int64]int64) (last int64, committed int) {
	t.Helper()
	last = -1
	for b := rp.RecordBatches; len(b) >= 12; {
		size := int(binary.BigEndian.Uint32(b[8:12])) + 12
		if size > len(b) {
			break // a partial batch at the end of the response
		}
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(b[:size]); err != nil {
			t.Fatal(err)
		}
		b = b[size:]
		last = batch.FirstOffset + int64(batch.LastOffsetDelta)
		if batch.Attributes&0x20 != 0 {
			continue // a transaction marker
		}
		recs, err := kgoRecords(batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range recs {
			if !strings.Contains(v[:min(len(v), 40)], "/false/") {
				committed++
				continue
			}
			if f, ok := aborted[batch.ProducerID]; !ok || f > batch.FirstOffset {
				t.Fatalf("%s: partition %d: a batch of an aborted transaction (producer %d, offset %d) came without its aborted-transaction entry (list: %v)", plan, rp.Partition, batch.ProducerID, batch.FirstOffset, rp.AbortedTransactions)
			}
		}
	}
	return last, committed
}

// kgoRecords returns the values of an uncompressed batch's records.
func kgoRecords(batch kmsg.RecordBatch) ([]string, error) {
	if batch.Attributes&0x07 != 0 {
		return nil, fmt.Errorf("compressed batch (codec %d): the contract tests produce uncompressed", batch.Attributes&0x07)
	}
	var vals []string
	b := batch.Records
	for range batch.NumRecords {
		var rec kmsg.Record
		// Each record is prefixed by its varint length.
		l, n := binary.Varint(b)
		if n <= 0 || int(l)+n > len(b) {
			return nil, fmt.Errorf("bad record length")
		}
		if err := rec.ReadFrom(b[:n+int(l)]); err != nil {
			return nil, err
		}
		vals = append(vals, string(rec.Value))
		b = b[n+int(l):]
	}
	return vals, nil
}
