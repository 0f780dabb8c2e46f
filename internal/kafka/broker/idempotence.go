package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file works around a kfake fault that breaks idempotent producing
// across a crash (docs/embedded-broker.md, "Idempotent retries written twice
// after a crash"): kfake keeps the sequence numbers of idempotent producers
// in memory and saves them only at a clean stop (seq_windows.json). After a
// crash it knows none, so a batch that it had written, and whose
// acknowledgement the producer never got, is written a second time when the
// producer sends it again — a like counted twice. Apache Kafka rebuilds the
// producers' state from the log (the batch headers carry producer id,
// epoch and sequence) and answers such a retry with the offset of the batch
// it already has.
//
// The start-up pass reads every batch header anyway (scanLogs): it keeps
// the last batches of each idempotent producer per partition, and a control
// function on Produce answers a retry of one of them itself, as Kafka does.

// seqWindowsFile is where kfake saves the producers' sequence numbers at a
// clean stop (pkg/kfake/persist.go: "seq_windows.json" in the data dir).
const seqWindowsFile = "seq_windows.json"

// keptBatches is how many of a producer's last batches per partition are
// remembered: Kafka's too (a producer has at most 5 requests in flight).
const keptBatches = 5

// producerBatch is a batch of a non-transactional idempotent producer, as
// found in the log.
type producerBatch struct {
	epoch      int16
	firstSeq   int32
	numRecords int32
	offset     int64
}

type producerKey struct {
	topic      string
	partition  int32
	producerID int64
}

// producerBatches holds the last batches of every idempotent producer in
// every partition, as the logs had them at start-up.
type producerBatches struct {
	last  map[producerKey][]producerBatch // oldest first, at most keptBatches
	names map[[16]byte]string             // topic id -> name
}

func newProducerBatches() *producerBatches {
	return &producerBatches{last: map[producerKey][]producerBatch{}}
}

// add takes the next batch of a partition's log. Transactional batches are
// left out: a crash aborts their transaction and fences its epoch
// (recover.go), so their retries are refused anyway.
func (pb *producerBatches) add(b batchHead) {
	if b.producerID < 0 || b.transactional || b.control {
		return
	}
	k := producerKey{b.topic, b.partition, b.producerID}
	kept := append(pb.last[k], producerBatch{b.epoch, b.firstSeq, b.numRecords, b.firstOffset})
	if len(kept) > keptBatches {
		kept = kept[1:]
	}
	pb.last[k] = kept
}

// written returns the offset at which the log holds the batch of producer
// id with this epoch, first sequence and number of records, if it does.
func (pb *producerBatches) written(topic string, partition int32, id int64, epoch int16, firstSeq, numRecords int32) (int64, bool) {
	for _, b := range pb.last[producerKey{topic, partition, id}] {
		if b.epoch == epoch && b.firstSeq == firstSeq && b.numRecords == numRecords {
			return b.offset, true
		}
	}
	return 0, false
}

// retryDedup is the control function on Produce that answers retries of
// batches written before the start.
type retryDedup struct {
	batches atomic.Pointer[producerBatches] // nil until the start-up pass
	log     *slog.Logger
}

// use makes pb the batches retries are checked against.
func (d *retryDedup) use(pb *producerBatches) {
	if len(pb.last) > 0 {
		d.batches.Store(pb)
	}
}

// dedupRetries installs d on c. A Produce request none of whose batches is
// a retry goes to kfake untouched. One with a retry is answered here: the
// retried batches with their offsets in the log (no error, as Kafka answers
// a duplicate); the others, if any, with NOT_ENOUGH_REPLICAS — written
// nowhere, retriable — so that the producer sends them again, alone, and
// kfake writes them then.
func dedupRetries(c *kfake.Cluster, d *retryDedup) {
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pb := d.batches.Load()
		req, ok := kreq.(*kmsg.ProduceRequest)
		if pb == nil || !ok || req.Acks != -1 {
			return nil, nil, false // idempotent producers write with acks=all
		}
		resp, retries := pb.answer(req)
		if len(retries) == 0 {
			return nil, nil, false
		}
		if d.log != nil {
			d.log.Info("answered an idempotent producer's retry of batches written before the restart with their offsets",
				"batches", retries)
		}
		return resp, nil, true
	})
}

// answer builds the response to req if it holds retries of batches in the
// log; it returns those it holds ("topic/partition@offset"), none for the
// requests of producers that are not retrying (the response is then nil).
func (pb *producerBatches) answer(req *kmsg.ProduceRequest) (*kmsg.ProduceResponse, []string) {
	type found struct{ topic, partition int }
	offsets := map[found]int64{}
	var retries []string
	for i, rt := range req.Topics {
		topic := rt.Topic
		if topic == "" {
			topic = pb.names[rt.TopicID]
		}
		for j, rp := range rt.Partitions {
			if off, ok := pb.retried(topic, rp.Partition, rp.Records); ok {
				offsets[found{i, j}] = off
				retries = append(retries, fmt.Sprintf("%s/%d@%d", topic, rp.Partition, off))
			}
		}
	}
	if len(retries) == 0 {
		return nil, nil
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for i, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for j, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LogAppendTime, sp.LogStartOffset = -1, -1
			if off, ok := offsets[found{i, j}]; ok {
				sp.BaseOffset = off
			} else {
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				msg := "sent with a retry of a batch written before the broker's restart: send it again"
				sp.ErrorMessage = &msg
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, retries
}

// retried returns the log offset of the batch in records if it is a retry
// of a batch of a non-transactional idempotent producer already written.
func (pb *producerBatches) retried(topic string, partition int32, records []byte) (int64, bool) {
	var b kmsg.RecordBatch
	if len(records) < 61 || b.ReadFrom(records) != nil {
		return 0, false // not a v2 batch: kfake refuses or handles it
	}
	if b.ProducerID < 0 || b.Attributes&(attrTransactional|attrControl) != 0 {
		return 0, false
	}
	return pb.written(topic, partition, b.ProducerID, b.ProducerEpoch, b.FirstSequence, b.NumRecords)
}

// forgetSeqWindows removes the sequence numbers kfake saved at its last
// clean stop. After a crash since, they are stale — a producer that wrote
// after that stop would have its next batch refused as out of order, which
// librdkafka takes as fatal — and after a clean stop the start-up pass finds
// the same batches in the log: kfake starts with no producer state, as
// Kafka does for producers it does not know, and retries are answered by
// retryDedup.
func forgetSeqWindows(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, seqWindowsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing kfake's saved producer sequences: %w", err)
	}
	return nil
}
