package broker_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/counter-dev/counter/internal/kafka/broker"
)

// Kafka rule (transaction commit is atomic): once the coordinator has begun
// to commit a transaction, the commit completes — every partition of the
// transaction gets its COMMIT marker and the group gets the transaction's
// offsets — even when the broker dies in the middle. kfake writes markers
// partition by partition and then the offsets, with nothing logged first;
// the broker's commit-intent journal completes such a commit at start-up.
//
// The cut is built by hand: a transaction over two partitions, a COMMIT
// marker written into the first only, the journal as EndTxn writes it, then
// a SIGKILL of the broker process.
func TestContractCommitCutShortByACrashIsCompleted(t *testing.T) {
	for _, begun := range []bool{true, false} {
		name := map[bool]string{true: "begun", false: "not-begun"}[begun]
		t.Run(name, func(t *testing.T) { commitCutShort(t, begun) })
	}
}

func commitCutShort(t *testing.T, begun bool) {
	dir := t.TempDir()
	p := startBrokerProcess(t, dir)
	addrs := []string{p.addr}
	admin := newClient(t, addrs)
	createTopic(t, admin, "cut", 2, nil)
	createTopic(t, admin, "in", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tx := newClient(t, addrs, kgo.TransactionalID("cut"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryTimeout(time.Second)) // its Close, with the broker gone, is short
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	vs := produce(t, tx, "cut", 2, "txn", 50)
	pid, epoch, err := tx.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The journal, as the EndTxn control function writes it.
	if err := broker.WriteCommitIntent(dir, pid, epoch, "g", map[string]map[int32]int64{"in": {0: 42}}); err != nil {
		t.Fatal(err)
	}
	if begun { // kfake had written the first partition's marker
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, true
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = "cut", []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		resp, err := req.RequestWith(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.Markers[0].Topics[0].Partitions[0].ErrorCode); err != nil {
			t.Fatal(err)
		}
	}
	p.kill(t)
	tx.Close()

	for round := range 2 { // and again after a second unclean reload
		p = startBrokerProcess(t, dir)
		addrs = []string{p.addr}
		checkStable(t, addrs, "cut")
		writeSentinels(t, addrs, "cut", 2)
		got := values(readCommittedAll(t, addrs, "cut", 2, round+1))
		var want []string
		if begun {
			want = slices.Clone(vs)
			slices.Sort(want)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: read_committed read %d records of the transaction, want %d (%s)", round, len(got), len(want), firstDiff(got, want))
		}
		prefix := map[bool]string{true: "no record must be aborted", false: "txn"}[begun]
		checkMarkers(t, readRaw(t, addrs, "cut"), prefix)
		offs, err := kadm.NewClient(newClient(t, addrs)).FetchOffsets(ctx, "g")
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			t.Fatal(err)
		}
		o, ok := offs.Lookup("in", 0)
		switch {
		case begun && (!ok || o.At != 42):
			t.Fatalf("round %d: group offset of in/0 is %v (%v), want the transaction's 42", round, o.At, ok)
		case !begun && ok && o.At >= 0:
			t.Fatalf("round %d: group offset of in/0 is %d, want none: the commit never began", round, o.At)
		}
		if round == 0 {
			p.kill(t)
		}
	}
}

// The journal holds what the commit in progress commits: after a
// transaction of a GroupTransactSession, its producer, epoch, group and
// offsets.
func TestCommitIntentJournal(t *testing.T) {
	dir := t.TempDir()
	addrs := startBroker(t, dir).Addrs()
	admin := newClient(t, addrs)
	createTopic(t, admin, "src", 1, nil)
	createTopic(t, admin, "dst", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "src", Value: []byte("a")}, &kgo.Record{Topic: "src", Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addrs...), kgo.TransactionalID("j"), kgo.ConsumerGroup("jg"),
		kgo.ConsumeTopics("src"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic("dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for n < 2 {
		fs := s.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no records")
		}
		if err := s.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			s.Produce(ctx, &kgo.Record{Value: r.Value}, nil)
		})
		if committed, err := s.End(ctx, kgo.TryCommit); err != nil || !committed {
			t.Fatalf("commit: %v %v", committed, err)
		}
	}
	pid, _, group, offsets, ok, err := broker.ReadCommitIntent(dir)
	if err != nil || !ok {
		t.Fatalf("no journal after a commit: %v", err)
	}
	if group != "jg" || offsets["src"][0] != 2 || pid == 0 {
		t.Fatalf("journal: producer %d, group %q, offsets %v; want group jg, src/0 at 2", pid, group, offsets)
	}
}
