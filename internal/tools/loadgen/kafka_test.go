package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
)

func TestRunKafka(t *testing.T) {
	brokers := testkit.StartBroker(t)
	testkit.EnsureTopics(t, brokers, testkit.Policy(t, time.Second, "1m"), 3)
	ids := VideoIDs(20)
	var s Stats
	res, err := RunKafka(context.Background(), KafkaConfig{
		Brokers: brokers, Topic: topics.Ingestion, Keyed: true, Count: 10, Duration: 20 * time.Second,
		MaxLikes: 1000, IDs: ids, Distribution: Uniform, Seed: 3, Logger: testkit.Logger(),
	}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked != 1000 || res.Requests != 100 || res.Errors != 0 {
		t.Fatalf("result %+v, want 1000 likes in 100 batches", res)
	}
	recs := testkit.ReadAll(t, brokers, topics.Ingestion)
	if len(recs) != 1000 {
		t.Fatalf("%d records in the topic, want 1000", len(recs))
	}
	for _, r := range recs {
		if string(r.Key) != string(r.Value) || len(r.Value) != 36 {
			t.Fatalf("record key %q value %q", r.Key, r.Value)
		}
	}
}
