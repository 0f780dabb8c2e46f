package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkProduceCheck measures what the retry check (dedupRetries) adds
// to a Produce request of a producer that is not retrying, once the
// start-up pass found idempotent producers in the logs: the look at each
// batch's header. The request has 6 partitions of 100-record batches; the
// table holds 1,000 producers × 6 partitions.
func BenchmarkProduceCheck(b *testing.B) {
	pb := newProducerBatches()
	for id := range int64(1000) {
		for p := range int32(6) {
			for s := range int32(5) {
				pb.add(batchHead{topic: "video_clicks_ingestion", partition: p, producerID: id, firstSeq: s * 100, numRecords: 100, firstOffset: int64(s) * 100})
			}
		}
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "video_clicks_ingestion"
	for p := range int32(6) {
		var recs []byte
		for i := range 100 {
			r := kmsg.Record{OffsetDelta: int32(i), Value: fmt.Appendf(nil, "video-%d", i)}
			r.Length = int32(len(r.AppendTo(nil)) - 1)
			recs = r.AppendTo(recs)
		}
		batch := kmsg.RecordBatch{Magic: 2, ProducerID: 5000, FirstSequence: 700, NumRecords: 100, LastOffsetDelta: 99, Records: recs}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch.AppendTo(nil)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	b.ReportAllocs()
	for b.Loop() {
		if _, retries := pb.answer(req); len(retries) != 0 {
			b.Fatal("a retry found")
		}
	}
}
