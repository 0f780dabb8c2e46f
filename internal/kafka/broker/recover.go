package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
)

// openTxn is a transaction that has data in a partition but no marker after
// it: it was open when the broker last stopped.
type openTxn struct {
	topic       string
	partition   int32
	producerID  int64
	epoch       int16
	firstOffset int64
}

// producerEpoch is one transaction of a producer (KIP-890: from EndTxn v5 on,
// every transaction of a producer has an epoch of its own).
type producerEpoch struct {
	id    int64
	epoch int16
}

// txnTracker follows the transactions of one partition through its log,
// batch by batch, in offset order.
type txnTracker struct {
	open      map[int64]openTxn // producer id -> its open transaction
	committed map[producerEpoch]bool
}

// add takes the next batch of the partition's log.
func (tr *txnTracker) add(b batchHead) {
	switch {
	case b.control:
		delete(tr.open, b.producerID) // a COMMIT or ABORT marker ends it
		if b.commit {
			tr.committed[producerEpoch{b.producerID, b.epoch}] = true
		}
	case b.transactional:
		if _, ok := tr.open[b.producerID]; !ok {
			tr.open[b.producerID] = openTxn{topic: b.topic, partition: b.partition,
				producerID: b.producerID, epoch: b.epoch, firstOffset: b.firstOffset}
		}
	}
}

// endOpenTransactions ends every transaction left open in the broker's logs
// with a real marker. It works around two kfake faults (docs/embedded-
// broker.md):
//   - kfake's reload treats transactions without a marker as aborted in its
//     own index but writes no ABORT marker, and a client drops the producer's
//     batches from the transaction's first offset until the producer's next
//     marker — the commit of the restarted producer's next transaction, which
//     is then lost. Such a transaction gets an ABORT marker.
//   - kfake's commit is not atomic across a crash (commitintent.go): a
//     transaction that kfake began to commit — the journal holds its intent,
//     and a COMMIT marker of its producer and epoch exists — gets COMMIT
//     markers where they are missing, and its group offsets where the group
//     is behind them.
//
// It must run before any outside client is served (the gate is still
// closed), so that no producer has written since the stop. It reads every
// partition of every topic once (scanLogs), read_uncommitted with the
// control records; on the way it gives dedup the last batches of each
// idempotent producer (idempotence.go).
// It returns the transactions it completed with COMMIT markers. auth are
// the SASL options of the broker's own clients (none without SASL).
func endOpenTransactions(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), auth []kgo.Opt, addrs []string, dataDir string, dedup *retryDedup, log *slog.Logger) (completed []openTxn, err error) {
	intent, err := readIntent(dataDir)
	if err != nil {
		return nil, err
	}
	cl, err := kafkaconn.NewClient(addrs, auth, kgo.Dialer(dial), kgo.WithLogger(kafkalog.New(log)))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	trackers := map[partKey]*txnTracker{}
	committed := map[producerEpoch]bool{} // COMMIT markers seen, in any partition
	seqs := newProducerBatches()
	names, err := scanLogs(ctx, cl, func(b batchHead) {
		k := partKey{b.topic, b.partition}
		tr := trackers[k]
		if tr == nil {
			tr = &txnTracker{open: map[int64]openTxn{}, committed: committed}
			trackers[k] = tr
		}
		tr.add(b)
		seqs.add(b)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the logs for open transactions: %w", err)
	}
	seqs.names = names
	dedup.use(seqs)

	var open []openTxn
	for _, tr := range trackers {
		for _, tx := range tr.open {
			open = append(open, tx)
		}
	}
	sort.Slice(open, func(i, j int) bool {
		a, b := open[i], open[j]
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		if a.partition != b.partition {
			return a.partition < b.partition
		}
		return a.producerID < b.producerID
	})
	// The commit in progress at the stop, if kfake had begun it.
	inProgress := intent != nil && intent.EndTxnVersion >= 5 && committed[producerEpoch{intent.ProducerID, intent.Epoch}]
	for _, tx := range open {
		commit := inProgress && tx.producerID == intent.ProducerID && tx.epoch == intent.Epoch
		if err := writeMarker(ctx, cl, tx, commit); err != nil {
			return nil, err
		}
		if commit {
			completed = append(completed, tx)
			log.Warn("completed a commit cut short by the last stop with a COMMIT marker",
				"topic", tx.topic, "partition", tx.partition, "producer_id", tx.producerID, "epoch", tx.epoch, "first_offset", tx.firstOffset)
			continue
		}
		log.Warn("ended a transaction left open at the last stop with an ABORT marker",
			"topic", tx.topic, "partition", tx.partition, "producer_id", tx.producerID, "first_offset", tx.firstOffset)
	}
	if inProgress && intent.Group != "" && len(intent.Offsets) > 0 {
		n, err := catchUpOffsets(ctx, adm, intent)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			log.Warn("applied the group offsets of a commit cut short by the last stop", "group", intent.Group, "partitions", n)
		}
	}
	return completed, nil
}

// catchUpOffsets commits the intent's offsets of the partitions where its
// group is behind them, and returns how many.
func catchUpOffsets(ctx context.Context, adm *kadm.Client, in *commitIntent) (int, error) {
	cur, err := adm.FetchOffsets(ctx, in.Group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		cur, err = kadm.OffsetResponses{}, nil // no offsets yet
	}
	if err != nil {
		return 0, fmt.Errorf("fetching the offsets of group %s: %w", in.Group, err)
	}
	behind := kadm.Offsets{}
	n := 0
	for topic, ps := range in.Offsets {
		for p, off := range ps {
			if o, ok := cur.Lookup(topic, p); ok && o.At >= off {
				continue
			}
			behind.Add(kadm.Offset{Topic: topic, Partition: p, At: off, LeaderEpoch: -1})
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	resp, err := adm.CommitOffsets(ctx, in.Group, behind)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("committing the offsets of group %s: %w", in.Group, err)
	}
	return n, nil
}

// writeMarker writes a COMMIT or ABORT marker of tx's producer into tx's
// partition.
func writeMarker(ctx context.Context, cl *kgo.Client, tx openTxn, commit bool) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID = tx.producerID
	m.ProducerEpoch = tx.epoch
	m.Committed = commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic = tx.topic
	mt.Partitions = []int32{tx.partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("writing a marker into %s/%d: %w", tx.topic, tx.partition, err)
	}
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("writing a marker into %s/%d: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
	}
	return nil
}
