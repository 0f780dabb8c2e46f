package worker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A read_committed consumer skips what it does not deliver — batches of
// aborted transactions (with or without their abort marker), batches that
// compaction emptied — and franz-go advances its position past them without
// reporting it: a fetch that yields no record is not returned by PollFetches
// at all. So "the last record delivered is at end-1" is not a sound test of
// being at the end: a partition whose last offsets are invisible never gets
// there. Where a consumer has delivered nothing for a while, skipInvisible
// reads the partition itself, as that consumer does, to learn whether
// anything it would deliver is left before the end.

// Probe fetch limits: the first fetch is small (most often a record to
// deliver comes at once), the next ones larger, to get through long
// aborted transactions in few round trips.
const (
	probeFirstBytes = 64 << 10
	probeMaxBytes   = restoreFetchBytes
)

// skipInvisible returns how far a read_committed consumer (control records
// kept) of topic partition p at offset from gets without delivering a
// record, up to end: the offset of the first record it would deliver, or
// end when there is none in [from, end). Nothing is delivered in
// [from, returned offset).
func skipInvisible(ctx context.Context, cl *kgo.Client, topic string, p int32, from, end int64) (int64, error) {
	if from >= end {
		return from, nil
	}
	leader, topicID, err := partitionLeader(ctx, cl, topic, p)
	if err != nil {
		return from, err
	}
	at := from
	limit := int32(probeFirstBytes)
	for at < end {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.IsolationLevel = 1 // read_committed
		req.SessionEpoch = -1  // a full fetch, outside any session
		// The request's limit is above the partition's: the response
		// stops at the partition's limit, a cut after which Kafka lists
		// the partition's aborted transactions (kfake omits them when
		// the request's limit cuts a partition).
		req.MaxBytes = 2 * limit
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = at
		rp.LogStartOffset = -1
		rp.CurrentLeaderEpoch = -1
		rp.PartitionMaxBytes = limit
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			return at, err
		}
		fresp := resp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(fresp.ErrorCode); err != nil {
			return at, err
		}
		var part *kmsg.FetchResponseTopicPartition
		for i := range fresp.Topics {
			for j := range fresp.Topics[i].Partitions {
				if fresp.Topics[i].Partitions[j].Partition == p {
					part = &fresp.Topics[i].Partitions[j]
				}
			}
		}
		if part == nil {
			return at, fmt.Errorf("fetch of %s partition %d: no answer for the partition", topic, p)
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			KeepControlRecords: true,
			Offset:             at,
			IsolationLevel:     kgo.ReadCommitted(),
			Topic:              topic,
			Partition:          p,
		}, part, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			return at, fmt.Errorf("fetch of %s partition %d at %d: %w", topic, p, at, fp.Err)
		}
		if len(fp.Records) > 0 {
			return min(fp.Records[0].Offset, end), nil
		}
		if next <= at {
			// Nothing readable at at (the partition's last stable
			// offset, or a leader change): the position is at.
			return at, nil
		}
		at = next
		limit = min(4*limit, probeMaxBytes)
	}
	return end, nil
}

// partitionLeader returns the leader of topic partition p and the topic's
// id.
func partitionLeader(ctx context.Context, cl *kgo.Client, topic string, p int32) (int32, [16]byte, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, [16]byte{}, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return -1, [16]byte{}, fmt.Errorf("metadata of %s: %w", topic, err)
		}
		for _, part := range t.Partitions {
			if part.Partition != p {
				continue
			}
			if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
				return -1, [16]byte{}, fmt.Errorf("metadata of %s partition %d: %w", topic, p, err)
			}
			if part.Leader < 0 {
				return -1, [16]byte{}, fmt.Errorf("%s partition %d has no leader", topic, p)
			}
			return part.Leader, t.TopicID, nil
		}
	}
	return -1, [16]byte{}, fmt.Errorf("%s partition %d not in the metadata", topic, p)
}

// probeMemo remembers the last skipInvisible answer for one partition, so
// that a consumer standing still is not probed again and again: nothing is
// delivered in [from, next), and next < end means a record to deliver is
// there.
type probeMemo struct {
	from, next int64
	valid      bool
}

// reaches reports what the memo knows of a consumer at pos reading up to
// end: known is false when a probe is needed; otherwise atEnd says whether
// nothing deliverable is left before end.
func (m probeMemo) reaches(pos, end int64) (atEnd, known bool) {
	if !m.valid || m.from != pos {
		return false, false
	}
	if m.next >= end {
		return true, true
	}
	// A deliverable record at m.next: the consumer will deliver it.
	return false, true
}
