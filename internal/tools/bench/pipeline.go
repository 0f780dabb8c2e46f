package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/tools/loadgen"
)

// PipelineConfig configures the pipeline scenario.
type PipelineConfig struct {
	Options
	// Events is the number of likes preloaded per workload.
	Events int
	// Videos is the number of distinct video ids, drawn by Distribution.
	Videos       int
	Distribution loadgen.Distribution
	// Workers run in this process, in one consumer group.
	Workers int
	// Span is how much event time the backlog covers.
	Span time.Duration
}

// Pipeline runs the pipeline scenario: per workload (unkeyed raw ids as the
// original producers send, keyed by video id as the API sends, and keyed
// with an Idempotency-Key per like) and per
// run, it preloads Events likes into the ingestion topic of a fresh broker,
// reads them with a plain read_committed consumer (the baseline), then
// starts the workers from zero and times until every like is counted and
// committed and every final is out, and checks the finals.
func Pipeline(ctx context.Context, cfg PipelineConfig) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Events < 1 || cfg.Videos < 1 || cfg.Workers < 1 || cfg.Workers > 64 || cfg.Span <= 0 {
		return nil, invalid("pipeline: need events, videos, 1 to 64 workers and a positive span")
	}
	rep := &Report{Scenario: "pipeline", Machine: ThisMachine(), Params: map[string]string{
		"events": itoa(cfg.Events), "videos": itoa(cfg.Videos), "distribution": string(cfg.Distribution),
		"workers": itoa(cfg.Workers), "partitions": itoa(cfg.Partitions), "runs": itoa(cfg.Runs),
		"windows": "1m,5m,10m", "grace": Grace.String(), "span": cfg.Span.String(),
	}}
	ids := make([][]byte, cfg.Videos)
	for i := range ids {
		ids[i] = []byte(loadgen.VideoID(i))
	}
	s := newSeries()
	for run := range cfg.Runs {
		for _, wl := range workloads {
			name := wl.name
			b := &backlog{events: cfg.Events, keyed: wl.keyed, idempotent: wl.idempotent, ids: ids, dist: cfg.Distribution, span: cfg.Span}
			res, err := pipelineRun(ctx, cfg, b, name, run)
			if err != nil {
				return nil, fmt.Errorf("pipeline %s, run %d: %w", name, run+1, err)
			}
			n := float64(cfg.Events)
			s.add(name+": pipeline end to end", "events/s", n/res.pipeline.Seconds())
			s.add(name+": plain consumer (baseline)", "events/s", n/res.baseline.Seconds())
			s.add(name+": preload producer", "events/s", n/res.preload.Seconds())
			s.add(name+": CPU time per event", "µs", res.cores*res.pipeline.Seconds()/n*1e6)
			s.add(name+": CPU while counting", "cores", res.cores)
			s.add(name+": CPU taken by other processes", "cores", res.others)
			s.add(name+": output records", "records", float64(res.outputs.finals+res.outputs.updates))
			cfg.Logger.Info("bench: pipeline run done", "workload", name, "run", run+1,
				"events_per_s", int(n/res.pipeline.Seconds()), "baseline_per_s", int(n/res.baseline.Seconds()),
				"took", res.pipeline.Round(time.Millisecond), "finals", res.outputs.finals, "updates", res.outputs.updates)
		}
	}
	for _, wl := range workloads {
		name := wl.name
		rep.Figures = append(rep.Figures,
			s.figure(name+": pipeline end to end", name+": plain consumer (baseline)", wl.target),
			s.baseline(name+": plain consumer (baseline)"),
			s.figure(name+": preload producer", "", ""),
			s.figure(name+": CPU time per event", "", "≤ 4 µs for 500K/s on 2 cores"),
			s.figure(name+": CPU while counting", "", ""),
			s.figure(name+": CPU taken by other processes", "", ""),
			s.figure(name+": output records", "", ""))
	}
	rep.Notes = append(rep.Notes, "end to end: from starting the workers (empty state) until every like is committed and every final is out; correctness checked on the read_committed output topics",
		"idempotent: keyed likes each with its own Idempotency-Key (as the API writes single likes sent with one): the workers keep and changelog one idempotency record per like, and forward such likes one by one")
	return rep, nil
}

// workload is one kind of backlog the pipeline scenario counts.
type workload struct {
	name       string
	keyed      bool // keyed by video id (the API) or unkeyed (original producers)
	idempotent bool // each like with its own Idempotency-Key
	target     string
}

var workloads = []workload{
	{"unkeyed", false, false, "≥ 300K"},
	{"keyed", true, false, "≥ 500K and ≥ 50% of baseline"},
	{"idempotent", true, true, ""},
}

// pipelineResult is one run of one workload.
type pipelineResult struct {
	preload, baseline, pipeline time.Duration
	cores                       float64 // CPU cores this process kept busy while the workers ran
	others                      float64 // CPU cores other processes took meanwhile
	outputs                     outputCheck
}

func pipelineRun(ctx context.Context, cfg PipelineConfig, b *backlog, name string, run int) (res pipelineResult, err error) {
	c, err := startCluster(ctx, cfg.Options)
	if err != nil {
		return res, err
	}
	defer c.close()
	log := cfg.Logger.With("workload", name, "run", run+1)
	log.Info("bench: preloading likes", "events", b.events)
	if res.preload, err = preload(ctx, c, b, cfg.Options); err != nil {
		return res, err
	}
	log.Info("bench: reading them with a plain consumer (baseline)")
	if res.baseline, err = readBaseline(ctx, c, topics.Ingestion, int64(b.events)); err != nil {
		return res, err
	}
	log.Info("bench: starting workers", "workers", cfg.Workers)
	stopProfile := startProfile(cfg.Options, run, "pipeline-"+name)
	cpu := startCPU()
	res.pipeline, err = timePipeline(ctx, c, cfg, b, log)
	res.cores, res.others = cpu.cores()
	stopProfile()
	if err != nil {
		return res, err
	}
	log.Info("bench: checking the finals")
	res.outputs, err = verifyOutputs(ctx, c, int64(b.events), b.finals, b.counts)
	return res, err
}

// timePipeline starts the workers and returns how long they took until
// every final of the backlog was produced and everything was committed.
func timePipeline(ctx context.Context, c *cluster, cfg PipelineConfig, b *backlog, log *slog.Logger) (time.Duration, error) {
	timeout := 5*time.Minute + time.Duration(b.events/10000)*time.Second
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	ws, err := startWorkers(ctx, c, cfg.Workers, 0, quieter(log))
	if err != nil {
		return 0, err
	}
	if err := awaitPipeline(ctx, c, ws, b, log); err != nil {
		ws.stop()
		if perr := parent.Err(); perr != nil {
			return 0, perr
		}
		return 0, err
	}
	return time.Since(start), ws.stop()
}

// awaitPipeline waits until the workers of ws have produced every final of
// the backlog and everything was committed (see settled), and logs how. It
// fails when a worker fails or ctx ends first.
func awaitPipeline(ctx context.Context, c *cluster, ws *workerSet, b *backlog, log *slog.Logger) error {
	var want float64
	for _, n := range b.finals {
		want += float64(n)
	}
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done after %v: %v finals of %v produced", time.Since(start).Round(time.Second), ws.finals(), want)
		case <-tick.C:
		}
		if err := ws.failed(); err != nil {
			return err
		}
		if ws.finals() < want {
			continue
		}
		done, err := settled(ctx, c, benchGroup)
		if err != nil {
			log.Warn("bench: cannot check progress", "err", err)
		}
		if done {
			committed, aborted, commit := ws.transactions()
			log.Info("bench: pipeline done", "took", time.Since(start).Round(time.Millisecond), "transactions", committed,
				"aborted", aborted, "mean_commit", commit.Round(time.Microsecond), "assignment", assignment(ctx, c, benchGroup))
			return nil
		}
	}
}
