package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/audit"
	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/worker"
)

const grace = time.Second

// startWorkers runs n workers of the real pipeline until the test ends.
func startWorkers(t *testing.T, brokers []string, p window.Policy, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	dir := t.TempDir()
	for i := range n {
		cfg := worker.DefaultConfig()
		cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, fmt.Sprint("w", i), filepath.Join(dir, fmt.Sprint(i)), p
		cfg.StandbyReplicas, cfg.SessionTimeout, cfg.Logger = 0, 2*time.Second, testkit.Logger().With("w", i)
		w, err := worker.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

type wkey struct {
	size  int64
	video string
	start int64
}

// The real pipeline counts likes of every kind (plain, combined, idempotent
// with retries, invalid, future, late); the audit finds no drift and checks
// every window that has likes. Then a wrong final is produced into an
// output topic: the audit reports exactly that window.
func TestAuditAgreesWithPipelineThenFindsCorruptedFinal(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, grace, "2s", "4s")
	testkit.EnsureTopics(t, brokers, p, 2)
	startWorkers(t, brokers, p, 2)
	prod := testkit.NewProducer(t, brokers)

	windows := map[wkey]bool{} // the windows that must have a final
	expect := func(video string, ts time.Time) {
		for _, s := range p.Sizes {
			windows[wkey{s.Millis, video, window.Of(ts.UnixMilli(), s.Millis).Start}] = true
		}
	}
	keyed := func(video string, ts time.Time, headers ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: topics.Ingestion, Partition: partition.ForKey([]byte(video), 2), Key: []byte(video),
			Value: []byte(video), Timestamp: ts, Headers: headers}
	}
	idem := func(key string, seq int) []kgo.RecordHeader {
		return []kgo.RecordHeader{{Key: record.IdempotencyKeyHeader, Value: []byte(key)}, {Key: record.SeqHeader, Value: []byte(fmt.Sprint(seq))}}
	}

	videos := []string{"a", "b", "c", "d"}
	end := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(end); i++ {
		now := time.Now()
		v := videos[i%len(videos)]
		batch := []*kgo.Record{testkit.Like(v, now), testkit.Like(videos[(i+1)%len(videos)], now), testkit.Like("bad id", now)}
		expect(v, now)
		expect(videos[(i+1)%len(videos)], now)
		if i%5 == 0 {
			// An API request of 2 likes, and a retry of it that the
			// workers must not count again.
			r := []*kgo.Record{keyed("idem", now, idem(fmt.Sprint("k", i), 0)...), keyed("idem", now, idem(fmt.Sprint("k", i), 1)...)}
			batch = append(batch, r...)
			batch = append(batch, keyed("idem", now.Add(time.Second), idem(fmt.Sprint("k", i), 1)...))
			expect("idem", now)
			// A foreign record with a forged counter.likes header: one
			// plain like, as the workers take it.
			batch = append(batch, keyed("many", now, kgo.RecordHeader{Key: record.LikesHeader, Value: []byte("3")}))
			expect("many", now)
			// Too far ahead of the clock.
			batch = append(batch, testkit.Like("future", now.Add(10*time.Minute)))
		}
		prod.Send(batch...)
		time.Sleep(50 * time.Millisecond)
	}
	// An old like, once the workers' watermarks are up: late in every
	// window.
	prod.Send(testkit.Like("old", time.Now().Add(-time.Minute)))
	// A like for a 2 s window that closes while its 4 s window is still
	// open: sent 3.5 s into a 4 s window, stamped 0.5 s into it (counted in
	// the 4 s window only, if the 2 s one has closed by then, which the
	// audit learns from the dead-letter topic either way).
	start := window.Of(time.Now().UnixMilli(), 4000).Start + 4000
	stamp := time.UnixMilli(start + 500)
	prod.Send(testkit.Like("partial", stamp))
	expect("partial", stamp)
	waitUntil(t, time.UnixMilli(start+3500))
	prod.Send(testkit.Like("partial", stamp))
	lastClose := time.UnixMilli(start + 4000).Add(grace)

	cfg := audit.Config{Brokers: brokers, Sizes: p.Sizes, Grace: grace, Settle: -1, To: lastClose,
		Group: worker.DefaultGroup, Logger: testkit.Logger()}
	res := auditUntil(t, cfg, lastClose, func(r audit.Result) bool { return r.OK() && r.Checked == len(windows) })
	t.Logf("audit: %d checked, %d matching; input %+v", res.Checked, res.Matching, res.Input)
	if !res.OK() || res.Checked != len(windows) || res.Matching != res.Checked {
		t.Fatalf("want no drift over the %d windows with likes, got %+v", len(windows), res)
	}
	in := res.Input
	if in.Future == 0 || in.Duplicates == 0 || in.Invalid == 0 || in.Late < 1 || res.WorkersBehind != 0 {
		t.Errorf("every kind of input should have been seen: %+v, workers behind %d", in, res.WorkersBehind)
	}

	// A wrong final, committed into the 2 s output topic.
	var target wkey
	for k := range windows {
		if k.size == 2000 && k.video == "a" {
			target = k
			break
		}
	}
	two := p.Sizes[0]
	prod.Send(&kgo.Record{Topic: topics.Output(two), Key: []byte("a"), Partition: partition.ForKey([]byte("a"), 2),
		Value: record.AppendAggregation(nil, two.Label, "a", 999, target.start, target.start+2000, true)})
	bad, err := audit.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bad.OK() || bad.Drifting != 1 || len(bad.Drifts) != 1 || bad.Checked != len(windows) {
		t.Fatalf("want exactly one drift, got %+v", bad)
	}
	d := bad.Drifts[0]
	if d.Video != "a" || d.Window != "2s" || d.WindowStart.UnixMilli() != target.start || d.Kind != audit.DriftDuplicate ||
		len(d.Counted) != 2 || d.Counted[1] != 999 || uint64(d.Expected) != d.Counted[0] {
		t.Errorf("drift %+v, want the duplicate final of a in the 2 s window at %d", d, target.start)
	}
}

// waitUntil waits for the clock to reach at.
func waitUntil(t *testing.T, at time.Time) {
	t.Helper()
	select {
	case <-time.After(time.Until(at)):
	case <-t.Context().Done():
	}
}

// auditUntil waits until the last window closes, then audits until ok
// holds (the workers close windows shortly after) or 15 s pass, and
// returns the last result.
func auditUntil(t *testing.T, cfg audit.Config, lastClose time.Time, ok func(audit.Result) bool) audit.Result {
	t.Helper()
	waitUntil(t, lastClose)
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := audit.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if ok(res) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(200 * time.Millisecond)
	}
}
