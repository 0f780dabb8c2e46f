package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
)

// BenchmarkBacklog measures how fast workers count a backlog of keyed likes
// (Zipf over 100K videos, event times over the last 30 minutes, windows
// 1m,5m,10m): b.N likes per run. For a CPU profile:
//
//	go test ./internal/worker -run '^$' -bench Backlog -benchtime 300000x -cpuprofile cpu.out
func BenchmarkBacklog(b *testing.B) {
	brokers := testkit.StartBroker(b)
	p := testkit.Policy(b, 5*time.Second, "1m", "5m", "10m")
	testkit.EnsureTopics(b, brokers, p, 6)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(1<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 99999)
	now := time.Now()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		id := []byte(fmt.Sprintf("video-%d", zipf.Uint64()))
		ts := now.Add(-30 * time.Minute).Add(time.Duration(i) * 30 * time.Minute / time.Duration(b.N))
		cl.Produce(ctx, &kgo.Record{Topic: topics.Ingestion, Partition: partition.ForKey(id, 6), Key: id, Value: id, Timestamp: ts}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	reg := prometheus.NewRegistry()
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	cfg := DefaultConfig()
	cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, "bench", filepath.Join(b.TempDir(), "s"), p
	cfg.Logger, cfg.Registerer = testkit.Logger(), reg
	w, err := New(wctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(wctx) }()
	start := time.Now()
	for sum([]*prometheus.Registry{reg}, "counter_worker_likes_counted_total") < float64(b.N) {
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(b.N)/took.Seconds(), "likes/s")
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "counter_worker_commit_seconds":
			h := mf.GetMetric()[0].GetHistogram()
			b.ReportMetric(float64(h.GetSampleCount()), "txns")
			b.ReportMetric(h.GetSampleSum()/took.Seconds()*100, "%commit")
		case "counter_worker_update_records_total", "counter_worker_final_records_total":
			b.ReportMetric(mf.GetMetric()[0].GetCounter().GetValue()/float64(b.N), mf.GetName()[15:]+"/like")
		}
	}
}
