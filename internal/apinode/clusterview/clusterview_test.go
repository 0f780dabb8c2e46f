package clusterview

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/worker"
)

func TestClusterView(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, time.Second, "2s")
	testkit.EnsureTopics(t, brokers, p, 4)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := 0; i < 2; i++ {
		cfg := worker.DefaultConfig()
		cfg.Brokers, cfg.ID, cfg.StateDir, cfg.Policy = brokers, fmt.Sprint("w", i), filepath.Join(t.TempDir(), "s"), p
		cfg.StandbyReplicas, cfg.SessionTimeout, cfg.Logger = 1, 2*time.Second, testkit.Logger()
		w, err := worker.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(ctx) }()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mux := http.NewServeMux()
	statuses := startStatuses(t, brokers, nil)
	mux.Handle("GET /{stage}/cluster", Handler(kadm.NewClient(cl), worker.DefaultGroup, "dev", 1, statuses))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/dev/cluster")
		if err != nil {
			t.Fatal(err)
		}
		var v View
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		owned, standbys, ready := 0, 0, 0
		for _, w := range v.Workers {
			if w.Status == StatusReady && !w.Restoring && len(w.Restore) == 0 && w.StatusAt != nil {
				ready++
			}
			owned += len(w.Partitions[topics.Partitioned])
			standbys += len(w.Standbys)
			for _, sb := range w.Standbys {
				for _, p := range w.Partitions[topics.Partitioned] {
					if sb == p {
						t.Fatalf("worker %s is standby of its own partition %d", w.ID, p)
					}
				}
			}
		}
		if resp.StatusCode == 200 && v.State == "Stable" && len(v.Workers) == 2 && owned == 4 && standbys == 4 && ready == 2 &&
			v.Workers[0].ID == "w0" && v.Workers[1].ID == "w1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster view never showed 2 ready workers owning 4 partitions with 4 standbys: %d %+v", resp.StatusCode, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, _ := http.Get(srv.URL + "/prod/cluster"); resp.StatusCode != 404 {
		t.Errorf("unknown stage: %d", resp.StatusCode)
	}
}
