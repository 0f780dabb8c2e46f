package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/loadgen"
	"github.com/counter-dev/counter/internal/testkit"
)

func TestPipeline(t *testing.T) {
	events := 30000
	if testing.Short() {
		events = 20000
	}
	rep, err := Pipeline(context.Background(), PipelineConfig{
		Options: Options{Runs: 1, Partitions: 6, Logger: testkit.Logger()},
		Events:  events, Videos: 10000, Distribution: loadgen.Zipf, Workers: 2, Span: 30 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep.Write(os.Stderr, false)
}

func TestIngest(t *testing.T) {
	rep, err := Ingest(context.Background(), IngestConfig{
		Options:     Options{Runs: 1, Partitions: 6, Logger: testkit.Logger()},
		Connections: 64, Duration: time.Second, Count: 100, Videos: 10000, Distribution: loadgen.Zipf,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep.Write(os.Stderr, false)
}

func TestRestoreMemory(t *testing.T) {
	bin := os.Getenv("COUNTER_BENCH_TEST_BINARY")
	if bin == "" {
		t.Skip("no binary")
	}
	o := Options{Runs: 1, Partitions: 6, Logger: testkit.Logger(), Binary: bin}
	rep, err := Restore(context.Background(), StateConfig{Options: o, Keys: 100000})
	if err != nil {
		t.Fatal(err)
	}
	rep.Write(os.Stderr, false)
	rep, err = Memory(context.Background(), StateConfig{Options: o, Keys: 100000, Settle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep.Write(os.Stderr, false)
}
