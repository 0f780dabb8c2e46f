package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka rule (transaction.timeout.ms): the coordinator aborts a transaction
// its producer keeps open past its timeout — a killed worker's open
// transaction must not hold the last stable offset, and so every
// read_committed reader, back forever. The abort writes ABORT markers, and
// the producer's next attempt to commit is refused.
func TestContractTransactionTimeoutAbortsAnAbandonedTransaction(t *testing.T) {
	addrs := startBroker(t, "").Addrs()
	const partitions = 3
	createTopic(t, newClient(t, addrs), "timeout", partitions, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	zombie := newClient(t, addrs, kgo.TransactionalID("z"), kgo.TransactionTimeout(time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(t, zombie, "timeout", partitions, "abandoned", 50)
	// The producer goes silent, as a SIGKILLed worker does. The broker
	// must end its transaction by itself.
	plain := newClient(t, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := produce(t, plain, "timeout", partitions, "plain", 20)
	deadline := time.Now().Add(30 * time.Second)
	for len(unstable(t, addrs, "timeout")) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned transaction still holds the last stable offset 30 s after its 1 s timeout")
		}
		time.Sleep(50 * time.Millisecond) // polling the broker's state: no event to wait on
	}
	writeSentinels(t, addrs, "timeout", partitions)
	slices.Sort(want)
	if got := values(readCommittedAll(t, addrs, "timeout", partitions, 1)); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %s", firstDiff(got, want))
	}
	checkMarkers(t, readRaw(t, addrs, "timeout"), "abandoned")
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the timed-out transaction's commit succeeded")
	}
}

// Kafka rule (fencing): a producer that initializes with a transactional
// id fences every older producer of that id: the broker aborts the open
// transaction of the old one, and the old one can neither produce nor
// commit any more — a zombie worker cannot add counts after its successor
// took over.
func TestContractFencingStopsAZombieProducer(t *testing.T) {
	addrs := startBroker(t, "").Addrs()
	const partitions = 2
	createTopic(t, newClient(t, addrs), "fencing", partitions, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := []kgo.Opt{kgo.TransactionalID("f"), kgo.RecordPartitioner(kgo.ManualPartitioner())}

	zombie := newClient(t, addrs, opts...)
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(t, zombie, "fencing", partitions, "zombie", 30)

	successor := newClient(t, addrs, opts...)
	if err := successor.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	want := produce(t, successor, "fencing", partitions, "successor", 30)
	if err := successor.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	// The zombie's late writes and its commit are refused.
	err := zombie.ProduceSync(ctx, &kgo.Record{Topic: "fencing", Value: []byte("zombie/late")}).FirstErr()
	if err == nil {
		err = zombie.EndTransaction(ctx, kgo.TryCommit)
	}
	if !fenced(err) {
		t.Fatalf("the zombie's produce and commit after the successor's start: %v, want a fencing error", err)
	}
	writeSentinels(t, addrs, "fencing", partitions)
	slices.Sort(want)
	if got := values(readCommittedAll(t, addrs, "fencing", partitions, 1)); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %s", firstDiff(got, want))
	}
	checkMarkers(t, readRaw(t, addrs, "fencing"), "zombie")
}

func fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// Kafka rules (log compaction of a transactional topic, like the changelog):
// compaction keeps the latest committed value of every key, never lets
// the record of an aborted transaction become visible (nor hide an older
// committed value), and keeps the transaction markers the surviving
// records need.
func TestContractCompactionNeverResurrectsAbortedData(t *testing.T) {
	b := startBroker(t, "")
	addrs := b.Addrs()
	compact := "compact"
	createTopic(t, newClient(t, addrs), "compacted", 1, map[string]*string{"cleanup.policy": &compact})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := newClient(t, addrs, kgo.TransactionalID("c"), kgo.DefaultProduceTopic("compacted"), kgo.ProducerLinger(0))
	txn := func(commit bool, kvs ...string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(kvs); i += 2 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(kvs[i]), Value: []byte(kvs[i+1])}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(true, "k1", "v1", "k2", "v1")
	txn(false, "k1", "aborted", "k3", "aborted")
	txn(true, "k2", "v2", "k4", "v2")
	txn(false, "k2", "aborted", "k4", "aborted", "k5", "aborted")
	for i := range 5 { // more history, so that the cleanable range is long
		txn(true, fmt.Sprintf("other%d", i), "v")
	}
	want := map[string]string{"k1": "v1", "k2": "v2", "k4": "v2"}
	for i := range 5 {
		want[fmt.Sprintf("other%d", i)] = "v"
	}
	for round := range 2 {
		b.Compact()
		writeSentinels(t, addrs, "compacted", 1)
		got := map[string]string{}
		for _, r := range readCommittedAll(t, addrs, "compacted", 1, round+1) {
			got[string(r.Key)] = string(r.Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("compaction round %d: read_committed latest values %v, want %v", round, got, want)
		}
		raw := readRaw(t, addrs, "compacted")
		checkMarkers(t, raw, "aborted")
		for _, r := range raw {
			if string(r.Value) == "aborted" {
				t.Fatalf("compaction round %d kept the aborted record %s at offset %d", round, r.Key, r.Offset)
			}
		}
		txn(false, "k1", "aborted", "k9", "aborted") // and one more aborted on top
	}
}
