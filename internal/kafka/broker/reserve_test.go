package broker_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/testkit"
)

// Below its free-space reserve the broker refuses new records with
// KAFKA_STORAGE_ERROR, while transactions in flight can still end — their
// markers have the reserve — and an aborted one stays aborted. With space
// back, records are accepted again.
func TestDiskReserveRefusesRecordsNotMarkers(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	b, err := broker.Start(broker.Config{DataDir: t.TempDir(), MinFreeDisk: 1 << 30, Logger: testkit.Logger(),
		FreeSpace: func(string) (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	addrs := b.Addrs()
	createTopic(t, newClient(t, addrs), "disk", 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plain := newClient(t, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(time.Second))
	want := produce(t, plain, "disk", 2, "before", 10)

	tx := newClient(t, addrs, kgo.TransactionalID("d"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(t, tx, "disk", 2, "aborted", 10)

	free.Store(10 << 20) // below the reserve
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := plain.ProduceSync(ctx, &kgo.Record{Topic: "disk", Value: []byte("refused?")}).FirstErr()
		// KAFKA_STORAGE_ERROR is retriable: the producer retries it until
		// the record times out.
		if errors.Is(err, kerr.KafkaStorageError) || errors.Is(err, kgo.ErrRecordTimeout) {
			break
		}
		if err == nil {
			want = append(want, "refused?") // accepted before the guard's next look
		}
		if time.Now().After(deadline) {
			t.Fatalf("records still accepted 10 s after the free space fell below the reserve (last: %v)", err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("aborting a transaction below the reserve: %v", err)
	}

	free.Store(1 << 40)
	deadline = time.Now().Add(10 * time.Second)
	for {
		err := plain.ProduceSync(ctx, &kgo.Record{Topic: "disk", Partition: 0, Value: []byte("after")}).FirstErr()
		if err == nil {
			want = append(want, "after")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records still refused 10 s after the space came back: %v", err)
		}
	}
	writeSentinels(t, addrs, "disk", 2)
	slices.Sort(want)
	if got := values(readCommittedAll(t, addrs, "disk", 2, 1)); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %s", firstDiff(got, want))
	}
	checkMarkers(t, readRaw(t, addrs, "disk"), "aborted")
}
