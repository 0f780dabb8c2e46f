package broker

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchHead is what the start-up pass needs of one record batch: its
// header, and for a transaction marker whether it commits.
type batchHead struct {
	topic       string
	partition   int32
	firstOffset int64
	producerID  int64
	epoch       int16
	firstSeq    int32
	numRecords  int32
	// transactional and control are the batch's attribute bits; commit
	// is the type of a control batch's marker (false for ABORT).
	transactional, control, commit bool
}

// Record batch attribute bits (Kafka's RecordBatch format, v2).
const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

// scanFetchBytes bound each raw Fetch of the scan, per partition and per
// response; a batch larger than a partition's bound still comes whole.
const (
	scanPartitionBytes = 1 << 20
	scanResponseBytes  = 16 << 20
)

// partKey names a partition.
type partKey struct {
	topic     string
	partition int32
}

func (k partKey) String() string { return fmt.Sprintf("%s/%d", k.topic, k.partition) }

// partRead is one partition still to read by scanLogs.
type partRead struct {
	partKey
	id        [16]byte
	next, end int64
}

// scanLogs reads every partition of every topic from its log start to its
// high watermark — read_uncommitted, with raw Fetch requests to each
// partition's leader, so that the batch headers (producer, epoch,
// sequence) come as they are on disk — and calls visit for each batch in
// offset order. It also returns the topics' names by topic id (Produce v13
// names a topic by its id).
func scanLogs(ctx context.Context, cl *kgo.Client, visit func(batchHead)) (names map[[16]byte]string, err error) {
	byLeader, names, err := partitionsToScan(ctx, kadm.NewClient(cl))
	if err != nil {
		return nil, err
	}
	for leader, parts := range byLeader {
		for len(parts) > 0 {
			if err := fetchBatches(ctx, cl.Broker(int(leader)), parts, names, visit); err != nil {
				return nil, err
			}
			left := parts[:0]
			for _, pr := range parts {
				if pr.next < pr.end {
					left = append(left, pr)
				}
			}
			parts = left
		}
	}
	return names, nil
}

// partitionsToScan returns the partitions that hold records, by leader,
// and the topics' names by id.
func partitionsToScan(ctx context.Context, adm *kadm.Client) (map[int32][]*partRead, map[[16]byte]string, error) {
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing topics: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing end offsets: %w", err)
	}
	names := map[[16]byte]string{}
	byLeader := map[int32][]*partRead{}
	for _, td := range topics {
		if td.Err != nil {
			return nil, nil, fmt.Errorf("describing topic %s: %w", td.Topic, td.Err)
		}
		names[td.ID] = td.Topic
		for _, pd := range td.Partitions {
			start, sok := starts.Lookup(td.Topic, pd.Partition)
			end, eok := ends.Lookup(td.Topic, pd.Partition)
			if !sok || !eok || start.Err != nil || start.Offset >= end.Offset {
				continue
			}
			byLeader[pd.Leader] = append(byLeader[pd.Leader], &partRead{partKey{td.Topic, pd.Partition}, td.ID, start.Offset, end.Offset})
		}
	}
	return byLeader, names, nil
}

// fetchBatches sends one Fetch for parts to their leader, visits the
// batches it returns and moves each partition's next offset past them.
func fetchBatches(ctx context.Context, leader *kgo.Broker, parts []*partRead, names map[[16]byte]string, visit func(batchHead)) error {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = scanResponseBytes
	req.SessionEpoch = -1 // no session: every partition named in every request
	byKey := map[partKey]*partRead{}
	for _, pr := range parts {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = pr.topic, pr.id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset = pr.partition, pr.next
		rp.PartitionMaxBytes = scanPartitionBytes
		rp.LogStartOffset, rp.CurrentLeaderEpoch = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		byKey[pr.partKey] = pr
	}
	resp, err := req.RequestWith(ctx, leader)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("reading the logs: %w", err)
	}
	for _, rt := range resp.Topics {
		topic := rt.Topic
		if topic == "" {
			topic = names[rt.TopicID]
		}
		for _, rp := range rt.Partitions {
			pr := byKey[partKey{topic, rp.Partition}]
			if pr == nil {
				continue
			}
			next, err := visitBatches(topic, rp.Partition, rp.RecordBatches, visit)
			if err == nil {
				err = kerr.ErrorForCode(rp.ErrorCode)
			}
			if err != nil {
				return fmt.Errorf("reading %s at offset %d: %w", pr.partKey, pr.next, err)
			}
			if next <= pr.next {
				return fmt.Errorf("reading %s: no batch at offset %d, before its end %d", pr.partKey, pr.next, pr.end)
			}
			pr.next = next
		}
	}
	return nil
}

// visitBatches calls visit for each whole batch of a Fetch response's
// partition and returns the offset after the last one (0 if none).
func visitBatches(topic string, partition int32, b []byte, visit func(batchHead)) (next int64, err error) {
	for len(b) >= 12 {
		size := int(binary.BigEndian.Uint32(b[8:12])) + 12
		if size > len(b) {
			break // a partial batch at the end of the response
		}
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(b[:size]); err != nil {
			return next, fmt.Errorf("batch at offset %d: %w", batch.FirstOffset, err)
		}
		b = b[size:]
		h := batchHead{
			topic: topic, partition: partition, firstOffset: batch.FirstOffset,
			producerID: batch.ProducerID, epoch: batch.ProducerEpoch,
			firstSeq: batch.FirstSequence, numRecords: batch.NumRecords,
			transactional: batch.Attributes&attrTransactional != 0,
			control:       batch.Attributes&attrControl != 0,
		}
		if h.control {
			h.commit = markerCommits(batch.Records)
		}
		visit(h)
		next = batch.FirstOffset + int64(batch.LastOffsetDelta) + 1
	}
	return next, nil
}

// markerCommits reports whether the record of a control batch is a COMMIT
// marker: its key is a version (2 bytes) and a type (2 bytes, 1 = COMMIT).
// An unreadable marker counts as an ABORT, as kfake's reload takes it.
func markerCommits(records []byte) bool {
	l, n := binary.Varint(records) // each record starts with its length
	if n <= 0 || l < 0 || int(l)+n > len(records) {
		return false
	}
	var rec kmsg.Record
	if err := rec.ReadFrom(records[:n+int(l)]); err != nil {
		return false
	}
	return len(rec.Key) >= 4 && binary.BigEndian.Uint16(rec.Key[2:4]) == 1
}
