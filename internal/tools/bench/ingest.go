package bench

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/tools/loadgen"
)

// IngestConfig configures the ingest scenario.
type IngestConfig struct {
	Options
	// Connections are kept alive by the load generator, each with one
	// request in flight.
	Connections int
	// Duration is how long each phase is measured, after a warm-up.
	Duration time.Duration
	// Count is the number of likes per request of the batched phase.
	Count int
	// Videos is the number of distinct video ids, drawn by Distribution.
	Videos       int
	Distribution loadgen.Distribution
}

// phase is one kind of request the ingest scenario sends.
type phase struct {
	name       string
	count      int  // likes per request, 0 for GET /healthz
	idempotent bool // with an Idempotency-Key header
}

// Ingest runs the ingest scenario: the HTTP API (with its Kafka producer)
// and a broker in this process, and a built-in load generator sending
// requests over keep-alive connections as fast as they are answered: GET
// /healthz (the baseline: the same server without Kafka), single likes,
// likes batched Count per request, and single likes with an
// Idempotency-Key. Acknowledged likes are checked against the records in
// the ingestion topic.
func Ingest(ctx context.Context, cfg IngestConfig) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Connections < 1 || cfg.Duration <= 0 || cfg.Count < 1 || cfg.Count > api.MaxCount || cfg.Videos < 1 {
		return nil, invalid("ingest: need connections, a positive duration, videos and a count of 1 to %d", api.MaxCount)
	}
	rep := &Report{Scenario: "ingest", Machine: ThisMachine(), Params: map[string]string{
		"connections": itoa(cfg.Connections), "duration": cfg.Duration.String(), "count": itoa(cfg.Count),
		"videos": itoa(cfg.Videos), "distribution": string(cfg.Distribution), "partitions": itoa(cfg.Partitions),
		"runs": itoa(cfg.Runs),
	}}
	ids := loadgen.VideoIDs(cfg.Videos)
	phases := []phase{{"GET /healthz", 0, false}, {"POST like", 1, false}, {fmt.Sprintf(`POST {"count":%d}`, cfg.Count), cfg.Count, false},
		{"POST like with Idempotency-Key", 1, true}}
	s := newSeries()
	for run := range cfg.Runs {
		if err := ingestRun(ctx, cfg, ids, phases, run, s); err != nil {
			return nil, fmt.Errorf("ingest run %d: %w", run+1, err)
		}
	}
	base := phases[0].name
	rep.Figures = append(rep.Figures,
		s.baseline(base+" (baseline)"),
		s.figure(base+" p50", "", ""),
		s.figure(base+" p99", "", ""),
		s.figure(base+" CPU", "", ""),
		s.figure(base+" CPU per request", "", ""),
		s.figure(base+" CPU taken by other processes", "", ""),
		s.figure(phases[1].name, base+" (baseline)", "≥ 30K and ≥ 50% of baseline"),
		s.figure(phases[1].name+" p50", base+" p50", ""),
		s.figure(phases[1].name+" p99", base+" p99", "< 10 ms"),
		s.figure(phases[1].name+" CPU", "", ""),
		s.figure(phases[1].name+" CPU per request", "", ""),
		s.figure(phases[1].name+" CPU taken by other processes", "", ""),
		s.figure(phases[2].name, base+" (baseline)", ""),
		s.figure(phases[2].name+" likes", "", "≥ 1M"),
		s.figure(phases[2].name+" p99", base+" p99", ""),
		s.figure(phases[2].name+" CPU", "", ""),
		s.figure(phases[2].name+" CPU per request", "", ""),
		s.figure(phases[2].name+" CPU taken by other processes", "", ""),
		s.figure(phases[3].name, phases[1].name, ""),
		s.figure(phases[3].name+" p99", phases[1].name+" p99", ""),
		s.figure(phases[3].name+" CPU per request", phases[1].name+" CPU per request", ""),
		s.figure("errors", "", "0"))
	rep.Notes = append(rep.Notes, "load generator, API, Kafka producer and broker share this machine's CPUs; latency is from writing a request to reading its whole answer")
	return rep, nil
}

// ingestRun measures every phase once against a fresh broker and API.
func ingestRun(ctx context.Context, cfg IngestConfig, ids []string, phases []phase, run int, s *series) error {
	c, err := startCluster(ctx, cfg.Options)
	if err != nil {
		return err
	}
	defer c.close()
	sink, err := ingest.NewKafkaSink(ingest.SinkConfig{Brokers: c.brokers, Topic: topics.Ingestion, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer sink.Close()
	srv := api.NewHTTPServer("127.0.0.1:0", api.New(api.Config{}, sink, prometheus.NewRegistry(), cfg.Logger).Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()
	target := loadgen.Target{Addr: ln.Addr().String(), Host: ln.Addr().String(), Prefix: "/" + api.DefaultStage}
	var acked, errs int64
	for _, ph := range phases {
		reqs := loadgen.GetRequests(target, "/healthz")
		if ph.count > 0 {
			likes := loadgen.LikeRequests
			if ph.idempotent {
				likes = loadgen.IdempotentLikeRequests
			}
			if reqs, err = likes(target, ids, cfg.Distribution, ph.count, uint64(run)+1); err != nil {
				return err
			}
		}
		hc := loadgen.HTTPConfig{Addr: target.Addr, Connections: cfg.Connections, NewRequests: reqs}
		hc.Duration = min(time.Second, cfg.Duration/5) // warm-up: connections, producer, JIT of caches
		warm, err := loadgen.RunHTTP(ctx, hc, &loadgen.Stats{})
		if err != nil {
			return err
		}
		hc.Duration = cfg.Duration
		stop := startProfile(cfg.Options, run, "ingest-"+profileName(ph))
		cpu := startCPU()
		res, err := loadgen.RunHTTP(ctx, hc, &loadgen.Stats{})
		cores, others := cpu.cores()
		stop()
		if err != nil {
			return err
		}
		if res.Requests == 0 {
			return fmt.Errorf("%s: no request succeeded: %v", ph.name, res.ErrorKinds)
		}
		cfg.Logger.Info("bench: ingest phase done", "phase", ph.name, "run", run+1, "requests_per_s", int(res.RequestRate()),
			"p50", res.P50, "p99", res.P99, "errors", res.Errors)
		acked += warm.Acked + res.Acked
		errs += warm.Errors + res.Errors
		name := ph.name
		if ph.count == 0 {
			name += " (baseline)"
		}
		s.add(name, "requests/s", res.RequestRate())
		s.add(ph.name+" p50", "ms", ms(res.P50))
		s.add(ph.name+" p99", "ms", ms(res.P99))
		s.add(ph.name+" CPU", "cores", cores)
		s.add(ph.name+" CPU per request", "µs", cores/res.RequestRate()*1e6)
		s.add(ph.name+" CPU taken by other processes", "cores", others)
		if ph.count > 1 {
			s.add(ph.name+" likes", "likes/s", res.LikeRate())
		}
	}
	s.add("errors", "requests", float64(errs))
	return checkIngested(ctx, c, acked, errs)
}

// checkIngested checks that the ingestion topic holds every acknowledged
// like: exactly those when no request failed (a failed request's likes may
// or may not have been written).
func checkIngested(ctx context.Context, c *cluster, acked, errs int64) error {
	ends, err := c.stableEnds(ctx, topics.Ingestion)
	if err != nil {
		return err
	}
	got := total(ends)
	switch {
	case got < acked:
		return fmt.Errorf("ingestion topic holds %d likes, but %d were acknowledged", got, acked)
	case errs == 0 && got != acked:
		return fmt.Errorf("ingestion topic holds %d likes, but %d were acknowledged and none failed", got, acked)
	}
	return nil
}

func profileName(ph phase) string {
	switch {
	case ph.count == 0:
		return "healthz"
	case ph.idempotent:
		return "idempotent"
	case ph.count == 1:
		return "single"
	}
	return "batched"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
