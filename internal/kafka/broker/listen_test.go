package broker_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/testkit"
)

func freePorts(t *testing.T, n int) int {
	t.Helper()
	// n consecutive free ports: try a few bases.
	for try := 0; try < 20; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ok := base+n-1 <= 65535
		for i := 1; ok && i < n; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no consecutive free ports")
	return 0
}

// A cluster of three nodes on consecutive ports: topics replicated three
// times, transactions across a restart from its data dir.
func TestThreeNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	port := freePorts(t, 3)
	cfg := broker.Config{Port: port, Nodes: 3, DataDir: dir, MinSessionTimeout: 100 * time.Millisecond, Logger: testkit.Logger()}
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1), fmt.Sprintf("127.0.0.1:%d", port+2)}
	if got := b.Addrs(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("addrs %v, want %v", got, want)
	}
	adm := kadm.NewClient(newClient(t, want[2:]))
	md, err := adm.BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) != 3 {
		t.Fatalf("metadata: %d brokers, %v", len(md.Brokers), err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "r3"); err != nil {
		t.Fatal(err)
	}
	tx := newClient(t, want[:1], kgo.TransactionalID("open"), kgo.DefaultProduceTopic("r3"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("left open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b.Close() // the transaction stays open in the log

	b, err = broker.Start(cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer b.Close()
	details, err := adm.ListTopics(ctx, "r3")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range details["r3"].Partitions {
		if len(p.Replicas) != 3 {
			t.Errorf("partition %d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}
	after := newClient(t, want[1:2], kgo.TransactionalID("after"), kgo.DefaultProduceTopic("r3"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := after.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := after.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("committed")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := after.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	rd := newClient(t, want, kgo.ConsumeTopics("r3"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the committed record never came: the transaction left open blocks the partition")
		}
		var vals []string
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
		if len(vals) > 0 {
			if strings.Join(vals, ",") != "committed" {
				t.Fatalf("read %v, want only the committed record", vals)
			}
			return
		}
	}
}

// The nodes listen on the given host and advertise another address: a
// client that reaches them by IP learns the advertised names from the
// metadata.
func TestListenAndAdvertise(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	port := freePorts(t, 2)
	b, err := broker.Start(broker.Config{Port: port, ListenHost: "0.0.0.0", Advertise: "counter-broker.example", Nodes: 2, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := fmt.Sprintf("counter-broker.example:%d counter-broker.example:%d", port, port+1)
	if got := strings.Join(b.Addrs(), " "); got != want {
		t.Fatalf("advertised %q, want %q", got, want)
	}
	md, err := kadm.NewClient(newClient(t, []string{fmt.Sprintf("127.0.0.1:%d", port)})).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bm := range md.Brokers {
		if bm.Host != "counter-broker.example" {
			t.Errorf("metadata advertises %s:%d", bm.Host, bm.Port)
		}
	}
	// Every interface: an address other than loopback reaches it too.
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() || ip.IP.To4() == nil {
			continue
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.IP.String(), fmt.Sprint(port+1)), 2*time.Second)
		if err != nil {
			t.Fatalf("listening on 0.0.0.0, but %s is not reachable: %v", ip.IP, err)
		}
		c.Close()
		return
	}
	t.Log("no interface besides loopback: only loopback checked")
}

// Without a port, the advertised address keeps the listen ports; with
// one, node i advertises port+i; every interface without an advertised
// address advertises the host name.
func TestAdvertisedPorts(t *testing.T) {
	b, err := broker.Start(broker.Config{Advertise: "10.1.2.3:29094", Nodes: 3, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(b.Addrs(), " ")
	b.Close()
	if got != "10.1.2.3:29094 10.1.2.3:29095 10.1.2.3:29096" {
		t.Errorf("advertised %q", got)
	}
	b, err = broker.Start(broker.Config{ListenHost: "::", Logger: testkit.Logger()})
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	got = b.Addrs()[0]
	b.Close()
	if host, _ := os.Hostname(); !strings.HasPrefix(got, host+":") {
		t.Errorf("listening on :: advertises %q, want the host name %q", got, host)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  broker.Config
		want string
	}{
		{broker.Config{Nodes: 17}, "17 nodes: want 1 to 16"},
		{broker.Config{Nodes: 3, Port: 65534}, "port 65534 with 3 nodes: out of range"},
		{broker.Config{Advertise: "host:port"}, `advertised address "host:port": want host or host:port with a port of 1-65535`},
		{broker.Config{Advertise: "host:0"}, "with a port of 1-65535"},
		{broker.Config{Advertise: "a:b:c"}, `advertised address "a:b:c": want host or host:port`},
		{broker.Config{ListenHost: "203.0.113.77"}, "203.0.113.77"},
		{broker.Config{Port: -1}, "port -1"},
	} {
		tc.cfg.Logger = testkit.Logger()
		b, err := broker.Start(tc.cfg)
		if err == nil {
			b.Close()
			t.Errorf("%+v: started", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %q, want %q", tc.cfg, err, tc.want)
		}
	}
}
