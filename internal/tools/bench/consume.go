package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// readTimeout bounds one consume call: the broker is local, so a read that
// takes longer is stuck.
const readTimeout = 10 * time.Minute

// consume reads topics read_committed from the start of every partition up
// to the given end offsets, calling fn for every record that is not a
// transaction marker. It is a plain consumer (no group), the fastest way this
// client reads a topic; with no end offsets it returns at once.
func consume(ctx context.Context, brokers []string, ends map[string]map[int32]int64, fn func(*kgo.Record)) error {
	parts := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{}
	for topic, m := range ends {
		for p, end := range m {
			if end <= 0 {
				continue
			}
			if parts[topic] == nil {
				parts[topic], remaining[topic] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			parts[topic][p] = kgo.NewOffset().AtStart()
			remaining[topic][p] = end
		}
	}
	if len(parts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(parts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cl.Close()
	left := 0
	for _, m := range remaining {
		left += len(m)
	}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("reading %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if !r.Attrs.IsControl() {
					fn(r)
				}
			}
			if len(p.Records) == 0 {
				return
			}
			rem := remaining[p.Topic]
			if end, ok := rem[p.Partition]; ok && p.Records[len(p.Records)-1].Offset+1 >= end {
				delete(rem, p.Partition)
				left--
			}
		})
	}
	return nil
}

// readBaseline reads the n likes of the ingestion topic with a plain
// read_committed consumer and counts them per video id in a map: the
// "just read it" limit of this broker and machine. It returns the time
// taken.
func readBaseline(ctx context.Context, c *cluster, topic string, n int64) (time.Duration, error) {
	ends, err := c.stableEnds(ctx, topic)
	if err != nil {
		return 0, err
	}
	if got := total(ends); got != n {
		return 0, fmt.Errorf("%s holds %d records, want %d", topic, got, n)
	}
	start := time.Now()
	counts := map[string]int64{}
	var read int64
	err = consume(ctx, c.brokers, map[string]map[int32]int64{topic: ends}, func(r *kgo.Record) {
		counts[string(r.Value)]++
		read++
	})
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if read != n {
		return 0, fmt.Errorf("baseline read %d records of %s, want %d", read, topic, n)
	}
	return took, nil
}
