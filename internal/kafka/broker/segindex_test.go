package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka rule (a transaction open at a crash is aborted, whatever the instant
// of the crash): kfake appends a record batch with two writes, the batch to
// the partition's segment file, then its entry to the segment's index
// (which says, among other things, that the batch belongs to a
// transaction); a SIGKILL between the two leaves a segment one batch longer
// than its index. Built here by hand: a transaction of one batch per
// partition open at a SIGKILL of the broker process, and the index entries
// of those batches removed, as that kill leaves them. After the restart,
// and again after a second unclean reload:
//   - read_committed readers get the committed transactions and neither that
//     transaction nor one aborted after the restart (kfake loaded the batch
//     as not transactional, so no aborted-transaction entry: the cut
//     transaction's records were served as committed, and every index entry
//     appended after it went to the batch before its own, so that the next
//     reload lost the aborted transactions that followed);
//   - every transaction ends with a marker, the last stable offset reaches
//     the end.
func TestContractCrashBetweenSegmentAndIndexWrite(t *testing.T) {
	dir := t.TempDir()
	const topic, partitions = "cutidx", 2
	p := startBrokerProcess(t, dir)
	addrs := []string{p.addr}
	createTopic(t, newClient(t, addrs), topic, partitions, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	txnOpts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(time.Minute), kgo.TransactionalID("a")}
	end := func(cl *kgo.Client, commit bool) {
		t.Helper()
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	begin := func(cl *kgo.Client) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
	}

	a := newClient(t, addrs, txnOpts...)
	var want []string
	begin(a)
	want = append(want, produce(t, a, topic, partitions, "committed-1", 20)...)
	end(a, true)
	begin(a)
	produce(t, a, topic, partitions, "gone-open", 1) // one batch per partition
	p.kill(t)
	a.Close()
	// The kill came between the two writes of those batches.
	for q := range partitions {
		idx := filepath.Join(dir, "partitions", fmt.Sprintf("%s-%d", topic, q), "0.idx")
		st, err := os.Stat(idx)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(idx, st.Size()-15); err != nil {
			t.Fatal(err)
		}
	}

	p = startBrokerProcess(t, dir)
	addrs = []string{p.addr}
	checkStable(t, addrs, topic)
	a = newClient(t, addrs, txnOpts...)
	begin(a)
	want = append(want, produce(t, a, topic, partitions, "committed-2", 20)...)
	end(a, true)
	begin(a)
	produce(t, a, topic, partitions, "gone-aborted", 5)
	end(a, false)
	begin(a)
	want = append(want, produce(t, a, topic, partitions, "committed-3", 20)...)
	end(a, true)
	writeSentinels(t, addrs, topic, partitions)
	slices.Sort(want)

	check := func(round string, sentinels int) {
		t.Helper()
		if got := values(readCommittedAll(t, addrs, topic, partitions, sentinels)); !slices.Equal(got, want) {
			t.Fatalf("%s: read_committed read %d records, want the %d committed ones (first difference: %s)", round, len(got), len(want), firstDiff(got, want))
		}
		checkMarkers(t, readRaw(t, addrs, topic), "gone-")
		checkStable(t, addrs, topic)
	}
	check("after the cut", 1)

	a.Close()
	p.kill(t)
	p = startBrokerProcess(t, dir)
	addrs = []string{p.addr}
	writeSentinels(t, addrs, topic, partitions)
	check("after a second SIGKILL", 2)
}
