package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/testkit"
)

// childDirEnv makes the test binary a broker process on that data dir (see
// TestMain): the crash properties SIGKILL it.
const childDirEnv = "COUNTER_BROKER_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		b, err := broker.Start(broker.Config{DataDir: dir, MinSessionTimeout: 100 * time.Millisecond, Logger: testkit.Logger()})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("ADDR %s\n", b.Addrs()[0])
		select {} // until killed
	}
	os.Exit(m.Run())
}

// brokerProcess is the embedded broker running in a child process.
type brokerProcess struct {
	cmd  *exec.Cmd
	addr string
}

func startBrokerProcess(t *testing.T, dir string) *brokerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &brokerProcess{cmd: cmd}
	t.Cleanup(func() { p.kill(t) })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("broker process: %v", err)
	}
	p.addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	return p
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *brokerProcess) kill(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// sentinel is the value of the last record a test writes into each
// partition before it reads it read_committed: the reader's end mark, as the
// offsets before it may hold an invisible aborted tail.
const sentinel = "end"

// writeSentinels writes a sentinel into every partition of topic.
func writeSentinels(t *testing.T, addrs []string, topic string, partitions int32) {
	t.Helper()
	cl := newClient(t, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := range partitions {
		// A key of its own, so that compaction keeps it.
		key := fmt.Appendf(nil, "%s/%d", sentinel, time.Now().UnixNano())
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Key: key, Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readCommittedAll reads topic read_committed from the start until the
// last sentinel of every partition, and returns the records before them.
func readCommittedAll(t *testing.T, addrs []string, topic string, partitions int32, sentinels int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[int32]int{}
	var recs []*kgo.Record
	for done := 0; done < int(partitions); {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s read_committed: sentinels seen per partition %v, want %d each", topic, seen, sentinels)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != sentinel {
				recs = append(recs, r)
				return
			}
			if seen[r.Partition]++; seen[r.Partition] == sentinels {
				done++
			}
		})
	}
	return recs
}

// readRaw reads every record of topic up to its high watermarks,
// read_uncommitted, with the transaction markers.
func readRaw(t *testing.T, addrs []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(newClient(t, addrs)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := newClient(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
	var recs []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: partitions not read to their end %v", topic, left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			if end, ok := left[r.Partition]; ok && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
		})
	}
	return recs
}

func values(recs []*kgo.Record) []string {
	var vs []string
	for _, r := range recs {
		if !r.Attrs.IsControl() {
			vs = append(vs, string(r.Value))
		}
	}
	slices.Sort(vs)
	return vs
}

// produce writes n records value prefix/i to every partition of topic in the
// client's open transaction (or plainly) and flushes.
func produce(t *testing.T, cl *kgo.Client, topic string, partitions int32, prefix string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var vs []string
	for p := range partitions {
		for i := range n {
			v := fmt.Sprintf("%s/%d/%d", prefix, p, i)
			vs = append(vs, v)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce %s: %v", v, err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return vs
}

// checkMarkers checks that every transactional record is followed in its
// partition by a marker of its producer, and that the transactions holding
// records whose value starts with abortedPrefix end with ABORT.
func checkMarkers(t *testing.T, raw []*kgo.Record, abortedPrefix string) {
	t.Helper()
	type open struct {
		first   int64
		aborted bool // holds a record that must be aborted
	}
	byPart := map[int32]map[int64]*open{}
	for _, r := range raw {
		txns := byPart[r.Partition]
		if txns == nil {
			txns = map[int64]*open{}
			byPart[r.Partition] = txns
		}
		switch {
		case r.Attrs.IsControl():
			o := txns[r.ProducerID]
			abort := len(r.Key) >= 4 && r.Key[3] == 0
			if o != nil && o.aborted && !abort {
				t.Errorf("partition %d: a transaction from offset %d holding records that must be aborted ends with COMMIT at %d", r.Partition, o.first, r.Offset)
			}
			delete(txns, r.ProducerID)
		case r.Attrs.IsTransactional():
			o := txns[r.ProducerID]
			if o == nil {
				o = &open{first: r.Offset}
				txns[r.ProducerID] = o
			}
			o.aborted = o.aborted || strings.HasPrefix(string(r.Value), abortedPrefix)
		}
	}
	for p, txns := range byPart {
		for pid, o := range txns {
			t.Errorf("partition %d: the transaction of producer %d from offset %d has no marker", p, pid, o.first)
		}
	}
}

// checkStable checks that every partition's last stable offset has reached
// its high watermark: no transaction is left open.
func checkStable(t *testing.T, addrs []string, topic string) {
	t.Helper()
	for _, u := range unstable(t, addrs, topic) {
		t.Error(u)
	}
}

// unstable describes the partitions of topic whose last stable offset is
// behind their high watermark.
func unstable(t *testing.T, addrs []string, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, addrs))
	hwm, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var behind []string
	hwm.Each(func(o kadm.ListedOffset) {
		if s, _ := lso.Lookup(topic, o.Partition); s.Offset != o.Offset {
			behind = append(behind, fmt.Sprintf("%s/%d: last stable offset %d, high watermark %d", topic, o.Partition, s.Offset, o.Offset))
		}
	})
	return behind
}

// Kafka rules, across a SIGKILL of the process holding the broker while
// transactions are open (data dir kept):
//   - acknowledged records and committed transactions survive;
//   - every transaction open at the kill ends in an ABORT marker (Kafka's
//     coordinator aborts them when it comes back), so the last stable offset
//     reaches the end;
//   - a read_committed reader sees every committed record once and no
//     aborted one — including the transactions the restarted producer
//     (same transactional id, same producer id) commits afterwards;
//   - the same holds after a second unclean reload of the same log.
func TestContractCrashEndsOpenTransactionsWithAbortMarkers(t *testing.T) {
	dir := t.TempDir()
	const partitions = 4
	p := startBrokerProcess(t, dir)
	addrs := []string{p.addr}
	createTopic(t, newClient(t, addrs), "crash", partitions, nil)

	txnOpts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(time.Minute)}
	a := newClient(t, addrs, append(txnOpts, kgo.TransactionalID("a"))...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	begin := func(cl *kgo.Client) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(cl *kgo.Client) {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	begin(a)
	want = append(want, produce(t, a, "crash", partitions, "committed-1", 200)...)
	commit(a)
	plain := newClient(t, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want = append(want, produce(t, plain, "crash", partitions, "acked", 100)...)
	// Two transactions open at the kill: a's, and b's over a part of the
	// partitions only.
	begin(a)
	produce(t, a, "crash", partitions, "open-a", 300)
	b := newClient(t, addrs, append(txnOpts, kgo.TransactionalID("b"))...)
	begin(b)
	produce(t, b, "crash", 2, "open-b", 50)
	p.kill(t)
	a.Close()
	b.Close()
	plain.Close()

	p = startBrokerProcess(t, dir)
	addrs = []string{p.addr}
	checkStable(t, addrs, "crash")
	// The restarted producers commit new transactions.
	a = newClient(t, addrs, append(txnOpts, kgo.TransactionalID("a"))...)
	begin(a)
	want = append(want, produce(t, a, "crash", partitions, "committed-2", 150)...)
	commit(a)
	b = newClient(t, addrs, append(txnOpts, kgo.TransactionalID("b"))...)
	begin(b)
	want = append(want, produce(t, b, "crash", partitions, "committed-b", 10)...)
	commit(b)
	writeSentinels(t, addrs, "crash", partitions)
	slices.Sort(want)

	check := func(round string, sentinels int) {
		t.Helper()
		if got := values(readCommittedAll(t, addrs, "crash", partitions, sentinels)); !slices.Equal(got, want) {
			t.Fatalf("%s: read_committed read %d records, want the %d committed ones (first difference: %s)", round, len(got), len(want), firstDiff(got, want))
		}
		checkMarkers(t, readRaw(t, addrs, "crash"), "open-")
		checkStable(t, addrs, "crash")
	}
	check("after one SIGKILL", 1)

	// A second unclean reload must neither lose nor resurrect anything.
	a.Close()
	b.Close()
	p.kill(t)
	p = startBrokerProcess(t, dir)
	addrs = []string{p.addr}
	writeSentinels(t, addrs, "crash", partitions)
	check("after a second SIGKILL", 2)
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("read %q where %q was expected", got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra %q", got[len(want)])
	}
	if len(want) > len(got) {
		return fmt.Sprintf("missing %q", want[len(got)])
	}
	return "none"
}

// The same rules across a clean stop of the broker (Close, as on SIGTERM)
// while a producer — a worker of another process — has a transaction open.
func TestContractCleanStopEndsOpenTransactions(t *testing.T) {
	dir := t.TempDir()
	const partitions = 3
	b := startBroker(t, dir)
	addrs := b.Addrs()
	createTopic(t, newClient(t, addrs), "stop", partitions, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := []kgo.Opt{kgo.TransactionalID("s"), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	run := func(prefix string, commit bool) []string {
		cl := newClient(t, addrs, opts...)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		vs := produce(t, cl, "stop", partitions, prefix, 100)
		if commit {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
			cl.Close()
		} // else the producer stays, its transaction open, until the test ends
		return vs
	}
	want := run("committed-1", true)
	run("open", false)
	b.Close()

	b = startBroker(t, dir)
	addrs = b.Addrs()
	checkStable(t, addrs, "stop")
	want = append(want, run("committed-2", true)...)
	writeSentinels(t, addrs, "stop", partitions)
	slices.Sort(want)
	if got := values(readCommittedAll(t, addrs, "stop", partitions, 1)); !slices.Equal(got, want) {
		t.Fatalf("read_committed read %d records, want the %d committed ones (%s)", len(got), len(want), firstDiff(got, want))
	}
	checkMarkers(t, readRaw(t, addrs, "stop"), "open")
}
