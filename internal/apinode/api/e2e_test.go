package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/apinode/ingest/ingesttest"
	"github.com/counter-dev/counter/internal/pipeline/catalog"
	"github.com/counter-dev/counter/internal/testkit"
)

// TestEndToEnd posts likes over HTTP to a server backed by a KafkaSink on an
// in-process broker and finds them in the ingestion topic; with the broker
// gone, the server answers 503 within the sink's timeout.
func TestEndToEnd(t *testing.T) {
	cluster := ingesttest.NewCluster(t, 3, []string{ingest.DefaultTopic})
	const timeout = time.Second
	sink, err := ingest.NewKafkaSink(ingest.SinkConfig{Brokers: cluster.ListenAddrs(), Timeout: timeout, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	reg := prometheus.NewRegistry()
	ts := httptest.NewServer(New(Config{}, sink, reg, quiet).Handler())
	defer ts.Close()

	post := func(id, body string) *http.Response {
		t.Helper()
		resp, err := http.Post(ts.URL+"/dev/videos/"+id+"/likes", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(catalog.DemoID1, `{"count":3}`); resp.StatusCode != 200 {
		t.Fatalf("POST: %s", resp.Status)
	}
	// Concurrent single likes, as browsers send them.
	const parallel = 40
	var wg sync.WaitGroup
	codes := make([]int, parallel)
	for i := range parallel {
		wg.Go(func() { codes[i] = post(catalog.DemoID2, "").StatusCode })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("concurrent POST %d: %d", i, c)
		}
	}

	byKey := map[string]int{}
	for _, r := range testkit.ReadAll(t, cluster.ListenAddrs(), ingest.DefaultTopic) {
		if string(r.Key) != string(r.Value) {
			t.Fatalf("key %q, value %q", r.Key, r.Value)
		}
		byKey[string(r.Key)]++
	}
	if byKey[catalog.DemoID1] != 3 || byKey[catalog.DemoID2] != parallel || len(byKey) != 2 {
		t.Fatalf("records by key %v, want 3 and %d", byKey, parallel)
	}
	if v := counterValue(t, reg, "counter_api_likes_accepted_total", nil); v != 3+parallel {
		t.Errorf("likes accepted = %v", v)
	}

	cluster.Close()
	start := time.Now()
	resp := post(catalog.DemoID1, "")
	if took := time.Since(start); resp.StatusCode != 503 || took > timeout+time.Second {
		t.Fatalf("with the broker down: %s after %v, want 503 within %v", resp.Status, took, timeout+time.Second)
	}
}
