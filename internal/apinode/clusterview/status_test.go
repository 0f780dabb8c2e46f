package clusterview

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/workerstatus"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/worker"
)

// startStatuses reads the status topic of brokers until the test ends.
func startStatuses(t *testing.T, brokers []string, reg prometheus.Registerer) *Statuses {
	t.Helper()
	s, err := NewStatuses(StatusConfig{Brokers: brokers, Logger: testkit.Logger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s
}

// counted reads a counter.
func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A worker's status says restoring only while a fresh status says so: a
// missing or stale one is unknown.
func TestJoinStatus(t *testing.T) {
	now := time.Now()
	at := now.Add(-time.Second)
	restore := []workerstatus.Restore{{Partition: 3, Restored: 42, Total: 100}}
	for _, c := range []struct {
		name      string
		st        workerstatus.Status
		found     bool
		status    string
		restoring bool
	}{
		{"missing", workerstatus.Status{}, false, StatusUnknown, false},
		{"stale restoring", workerstatus.Status{Worker: "w", Restoring: restore, At: now.Add(-workerstatus.MaxAge - time.Second)}, true, StatusUnknown, false},
		{"from a clock far ahead", workerstatus.Status{Worker: "w", Ready: true, At: now.Add(workerstatus.MaxAge + time.Second)}, true, StatusUnknown, false},
		{"restoring", workerstatus.Status{Worker: "w", Restoring: restore, At: at}, true, StatusRestoring, true},
		{"ready", workerstatus.Status{Worker: "w", Ready: true, Restoring: []workerstatus.Restore{}, At: at}, true, StatusReady, false},
		{"starting", workerstatus.Status{Worker: "w", At: at}, true, StatusStarting, false},
	} {
		var wk Worker
		wk.joinStatus(c.st, c.found, now)
		if wk.Status != c.status || wk.Restoring != c.restoring {
			t.Errorf("%s: status %q restoring %v, want %q %v", c.name, wk.Status, wk.Restoring, c.status, c.restoring)
		}
		if c.restoring != reflect.DeepEqual(wk.Restore, restore) || !c.restoring && (wk.Restore == nil || len(wk.Restore) > 0) {
			t.Errorf("%s: restore %+v", c.name, wk.Restore)
		}
		if (wk.StatusAt != nil) != (c.status != StatusUnknown) {
			t.Errorf("%s: status_at %v", c.name, wk.StatusAt)
		}
	}
}

// Bad records in the status topic are skipped and counted; they neither
// replace a worker's status nor break the view. A tombstone removes one.
func TestStatusesSkipBadRecords(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewStatuses(StatusConfig{Brokers: []string{"127.0.0.1:1"}, Logger: testkit.Logger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key, good, err := workerstatus.Encode(workerstatus.Status{Worker: "w1", Ready: true, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*kgo.Record{
		{Key: key, Value: good},
		{Key: key, Value: []byte("{not json")},
		{Key: []byte("w2"), Value: good}, // w1's status under w2's key
		{Key: key, Value: []byte(`{"v":1,"worker":"w1","ready":false,"at":"2026-12-01T21:30:00Z","restoring":[{"partition":1,"restored":9,"total":3}]}`)},
	} {
		s.apply(r)
	}
	if st, ok := s.Status("w1"); !ok || !st.Ready {
		t.Errorf("w1: %+v %v, want its good status", st, ok)
	}
	if _, ok := s.Status("w2"); ok {
		t.Error("w2 has a status")
	}
	if n := counted(t, s.broken); n != 3 {
		t.Errorf("%v bad records counted, want 3", n)
	}
	if n := counted(t, s.applied); n != 1 {
		t.Errorf("%v records applied, want 1", n)
	}
	s.apply(&kgo.Record{Key: key})
	if _, ok := s.Status("w1"); ok {
		t.Error("w1's status outlived its tombstone")
	}
}

// restoreGate holds a consumer's poll that returns a changelog record at
// offset at or beyond, until released: the restore of a worker built with it
// stops there, part-way.
type restoreGate struct {
	at      int64
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (g *restoreGate) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) {
	if polled && r.Topic == topics.Changelog && r.Offset >= g.at {
		g.once.Do(func() { close(g.reached); <-g.release })
	}
}

// A worker restoring a large changelog shows in the cluster view as
// restoring, with its progress, and once it is done as ready.
func TestClusterViewShowsRestoring(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, time.Second, "2s")
	testkit.EnsureTopics(t, brokers, p, 1)
	const records = 240000
	fillChangelog(t, brokers, records)

	reg := prometheus.NewRegistry()
	statuses := startStatuses(t, brokers, reg)
	gate := &restoreGate{at: records * 3 / 4, reached: make(chan struct{}), release: make(chan struct{})}
	released := sync.OnceFunc(func() { close(gate.release) })
	defer released()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { released(); cancel(); wg.Wait() }()
	cfg := worker.DefaultConfig()
	cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, "w0", filepath.Join(t.TempDir(), "s"), p
	cfg.SessionTimeout, cfg.Logger = 2*time.Second, testkit.Logger()
	cfg.KafkaOpts = []kgo.Opt{kgo.WithHooks(gate)}
	w, err := worker.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()

	adm := testkit.Admin(t, brokers)
	view := func(want string, ok func(Worker) bool) Worker {
		t.Helper()
		var last View
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := Describe(dctx, adm, worker.DefaultGroup, 0, statuses)
			dcancel()
			if err != nil { // the group does not exist before the worker joins
				continue
			}
			if last = v; len(v.Workers) == 1 && v.Workers[0].ID == "w0" && ok(v.Workers[0]) {
				return v.Workers[0]
			}
		}
		t.Fatalf("the cluster view never showed %s: %+v", want, last)
		return Worker{}
	}
	wk := view("w0 restoring part of partition 0", func(wk Worker) bool {
		return wk.Restoring && len(wk.Restore) == 1 && wk.Restore[0].Restored > 0
	})
	if wk.Status != StatusRestoring || wk.Restore[0].Partition != 0 || wk.Restore[0].Total != records || wk.Restore[0].Restored >= records {
		t.Errorf("restoring worker: %+v", wk)
	}
	select {
	case <-gate.reached:
	default:
		t.Fatal("the view showed the restore before it reached the gate")
	}
	if w.Ready() {
		t.Fatal("the worker is ready while its restore is held")
	}
	released()
	wk = view("w0 ready", func(wk Worker) bool { return wk.Status == StatusReady })
	if wk.Restoring || len(wk.Restore) != 0 {
		t.Errorf("ready worker: %+v", wk)
	}
	if n := counted(t, statuses.broken); n != 1 {
		t.Errorf("%v bad status records counted, want the 1 written before the worker started", n)
	}
}

// fillChangelog writes n changelog records to partition 0 (the demo tick,
// over and over: n records to replay, one key of state), and a bad record
// to the status topic.
func fillChangelog(t *testing.T, brokers []string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topics.Changelog),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(n+1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var failed error
	var mu sync.Mutex
	for i := range n {
		v := binary.BigEndian.AppendUint64(nil, uint64(i))
		cl.Produce(ctx, &kgo.Record{Key: []byte("d"), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		})
	}
	cl.Produce(ctx, &kgo.Record{Topic: topics.WorkerStatus, Key: []byte("w0"), Value: []byte("garbage")}, nil)
	if err := cl.Flush(ctx); err != nil || failed != nil {
		t.Fatalf("filling the changelog: %v %v", err, failed)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.Changelog)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topics.Changelog, 0); o.Offset != int64(n) {
		t.Fatalf("changelog end %d, want %d", o.Offset, n)
	}
}
