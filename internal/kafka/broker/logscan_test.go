package broker

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scanLogs, the start-up pass's reader, visits every batch of every
// partition once, in offset order, from the log start (also when it lies
// inside a batch, after DeleteRecords) to the end, through compacted gaps,
// with the headers as written: idempotent sequences follow each other,
// markers say whether they commit, and records add up.
func TestScanLogsVisitsEveryBatchOnce(t *testing.T) {
	b, err := Start(Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newClient := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs()...)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	cl := newClient()
	adm := kadm.NewClient(cl)
	compact := "compact"
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact}, "compacted"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	// More than one Fetch response holds (scanPartitionBytes per partition).
	const bigRecords = 40
	big := newClient(kgo.ProducerBatchCompression(kgo.NoCompression()))
	for range bigRecords {
		big.Produce(ctx, &kgo.Record{Topic: "big", Value: make([]byte, 100<<10)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := big.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// An idempotent producer, small batches, half of them compressed.
	const records = 600
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.SnappyCompression()} {
		pr := newClient(kgo.ProducerBatchMaxBytes(512), kgo.ProducerBatchCompression(codec), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for i := range records / 2 {
			recs = append(recs, &kgo.Record{Topic: "plain", Partition: int32(i % 3), Value: fmt.Appendf(nil, "like-%04d", i)})
		}
		if err := pr.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A committed and an aborted transaction over two partitions.
	tx := newClient(kgo.TransactionalID("scan"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			if err := tx.ProduceSync(ctx, &kgo.Record{Topic: "plain", Partition: p, Value: []byte("tx")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 2 starts inside a batch.
	ends, err := adm.ListEndOffsets(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	end2, _ := ends.Lookup("plain", 2)
	deleteTo := end2.Offset / 2
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: "plain", Partition: 2, At: deleteTo})
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	// A compacted topic with gaps.
	cp := newClient(kgo.ProducerBatchMaxBytes(512), kgo.ProducerLinger(0))
	for i := range 200 {
		if err := cp.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Key: fmt.Appendf(nil, "k%d", i%7), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.Compact()

	type pk struct {
		topic     string
		partition int32
	}
	next := map[pk]int64{}
	first := map[pk]int64{}
	dataRecords := map[pk]int64{}
	markers := map[bool]int{}
	lastSeq := map[string]int32{} // partition/producer -> next sequence
	names, err := scanLogs(ctx, cl, func(h batchHead) {
		k := pk{h.topic, h.partition}
		if n, ok := next[k]; ok && h.firstOffset < n {
			t.Errorf("%v: batch at %d after one ending at %d", k, h.firstOffset, n-1)
		}
		if _, ok := first[k]; !ok {
			first[k] = h.firstOffset
		}
		next[k] = h.firstOffset + 1 // at least; the end is checked below
		switch {
		case h.control:
			markers[h.commit]++
		default:
			dataRecords[k] += int64(h.numRecords)
			if h.topic != "compacted" && h.producerID >= 0 && !h.transactional && h.partition != 2 {
				sk := fmt.Sprintf("%d/%d", h.partition, h.producerID)
				if want, ok := lastSeq[sk]; ok && h.firstSeq != want {
					t.Errorf("%s: batch with sequence %d, want %d", sk, h.firstSeq, want)
				}
				lastSeq[sk] = h.firstSeq + h.numRecords
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx, "plain", "compacted")
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range tds {
		if names[td.ID] != td.Topic {
			t.Errorf("topic id of %s named %q", td.Topic, names[td.ID])
		}
	}
	if got := dataRecords[pk{"plain", 0}] + dataRecords[pk{"plain", 1}]; got != records*2/3+2*2 {
		t.Errorf("partitions 0 and 1 hold %d records in their batches, want %d", got, records*2/3+4)
	}
	if markers[true] != 2 || markers[false] != 2 {
		t.Errorf("markers: %d COMMIT, %d ABORT, want 2 of each", markers[true], markers[false])
	}
	if len(lastSeq) != 5 {
		t.Errorf("sequences followed for %d partition/producer pairs, want 5 (2 producers × partitions 0, 1, and big)", len(lastSeq))
	}
	if got := dataRecords[pk{"big", 0}]; got != bigRecords {
		t.Errorf("big: %d records in its batches, want %d", got, bigRecords)
	}
	if f := first[pk{"plain", 2}]; f > deleteTo {
		t.Errorf("partition 2 read from %d, after its log start %d", f, deleteTo)
	}
	if dataRecords[pk{"compacted", 0}] == 0 || dataRecords[pk{"compacted", 0}] >= 200 {
		t.Errorf("compacted topic: %d records in its batches, want fewer than 200 and some", dataRecords[pk{"compacted", 0}])
	}
}
