package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
)

// counter-tools load sends exactly the likes it is bounded to, through the API
// and straight into Kafka, and reports them.
func TestLoad(t *testing.T) {
	brokers := testkit.StartBroker(t)
	testkit.EnsureTopics(t, brokers, testkit.Policy(t, time.Second, "1m"), 3)
	sink, err := ingest.NewKafkaSink(ingest.SinkConfig{Brokers: brokers, Topic: topics.Ingestion, Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ts := httptest.NewServer(api.New(api.Config{}, sink, prometheus.NewRegistry(), testkit.Logger()).Handler())
	defer ts.Close()

	load := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append(args, "--duration", "20s", "--fail-on-error", "--log-level", "warn")
		if err := loadCommand(context.Background(), args, &out, &errb); err != nil {
			t.Fatalf("counter-tools load %v: %v\n%s%s", args, err, out.String(), errb.String())
		}
		return out.String()
	}
	got := load("--url", ts.URL+"/dev", "--rate", "0", "--total", "300", "--count", "3", "--connections", "4", "--videos", "50")
	if !strings.Contains(got, "acknowledged 300 likes in 100 requests, 0 errors") {
		t.Errorf("summary:\n%s", got)
	}
	got = load("--target", "kafka", "--brokers", strings.Join(brokers, ","), "--rate", "5000", "--total", "200", "--keyed=false")
	if !strings.Contains(got, "acknowledged 200 likes in 200 requests, 0 errors") {
		t.Errorf("summary:\n%s", got)
	}
	keyed, unkeyed := 0, 0
	for _, r := range testkit.ReadAll(t, brokers, topics.Ingestion) {
		if r.Key == nil {
			unkeyed++
		} else {
			keyed++
		}
	}
	if keyed != 300 || unkeyed != 200 {
		t.Errorf("ingestion topic holds %d keyed and %d unkeyed likes, want 300 and 200", keyed, unkeyed)
	}
}
