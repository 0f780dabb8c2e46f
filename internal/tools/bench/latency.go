package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode"
	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/live"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit/livetest"
	"github.com/counter-dev/counter/internal/tools/loadgen"
	"github.com/counter-dev/counter/internal/worker"
)

// LatencyConfig configures the latency scenario.
type LatencyConfig struct {
	Options
	// Rate is how many single likes per second are sent through the API.
	Rate int
	// Duration is how long they are sent.
	Duration time.Duration
	// Videos is the number of distinct videos liked (uniformly) and
	// watched by the Socket.IO client.
	Videos int
	// Workers run in this process, in one consumer group.
	Workers int
	// CommitInterval is the workers' commit interval
	// (worker.DefaultCommitInterval if zero).
	CommitInterval time.Duration
	// FlushInterval is the API's shortest time between two Socket.IO pushes
	// (live.DefaultFlushInterval if zero).
	FlushInterval time.Duration
	// Connections are the HTTP keep-alive connections the likes are sent
	// over, at most one request in flight each.
	Connections int
	// Timeout is how long after the last like every acknowledged like
	// must have been pushed; 30 s or 20 commit intervals, whichever is
	// longer, if zero.
	Timeout time.Duration
}

// maxLatencyVideos bounds LatencyConfig.Videos; a Socket.IO client
// registers at most live.DefaultMaxVideos of them, so the scenario connects
// one client per that many videos.
const maxLatencyVideos = 100000

// warmupVideo is liked before the measurement, until a push shows that the
// whole path works; its likes are not measured.
const warmupVideo = "latency-warmup"

// Latency runs the latency scenario: per run, a fresh broker, Workers
// workers and one API instance (HTTP API, live view and Socket.IO push) in
// this process, and a Socket.IO client (WebSocket) watching the 1-minute
// counts of Videos videos. Single likes go through POST
// /{stage}/videos/{id}/likes at Rate per second for Duration; each like's
// latency is from its 200 to the first push whose count covers it (see
// coverLikes). The run fails unless every acknowledged like is pushed
// within Timeout of the last one. The baseline is the push alone, from the
// worker producing an output record (just before its commit) to the
// client receiving its count.
func Latency(ctx context.Context, cfg LatencyConfig) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Rate < 1 || cfg.Rate > 100000 || cfg.Duration <= 0 || cfg.Videos < 1 || cfg.Videos > maxLatencyVideos ||
		cfg.Workers < 1 || cfg.Workers > 64 || cfg.Connections < 1 || cfg.Connections > 1000 {
		return nil, invalid("latency: need a rate of 1 to 100000, a positive duration, 1 to %d videos, 1 to 64 workers and 1 to 1000 connections", maxLatencyVideos)
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = worker.DefaultCommitInterval
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = live.DefaultFlushInterval
	}
	// The workers' transaction timeout (worker.DefaultTransactionTimeout)
	// must be at least 10 commit intervals.
	if cfg.CommitInterval < time.Millisecond || cfg.CommitInterval > worker.DefaultTransactionTimeout/10 || cfg.FlushInterval < 0 || cfg.FlushInterval > 10*time.Second {
		return nil, invalid("latency: need a commit interval of 1ms to %v and a flush interval of at most 10s", worker.DefaultTransactionTimeout/10)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = max(30*time.Second, 20*cfg.CommitInterval)
	}
	rep := &Report{Scenario: "latency", Machine: ThisMachine(), Params: map[string]string{
		"rate": itoa(cfg.Rate), "duration": cfg.Duration.String(), "videos": itoa(cfg.Videos),
		"workers": itoa(cfg.Workers), "commit_interval": cfg.CommitInterval.String(),
		"live_flush_interval": cfg.FlushInterval.String(), "connections": itoa(cfg.Connections),
		"partitions": itoa(cfg.Partitions), "runs": itoa(cfg.Runs), "windows": strings.Join(Windows, ","), "grace": Grace.String(),
	}}
	s := newSeries()
	var early, likes, unlisted int
	for run := range cfg.Runs {
		res, err := latencyRun(ctx, cfg, run)
		if err != nil {
			return nil, fmt.Errorf("latency run %d: %w", run+1, err)
		}
		e2e, worker, push := res.e2e, res.worker, res.push
		s.add("like → push p50", "ms", ms(quantile(e2e, .5)))
		s.add("like → push p90", "ms", ms(quantile(e2e, .9)))
		s.add("like → push p99", "ms", ms(quantile(e2e, .99)))
		s.add("like → push max", "ms", ms(quantile(e2e, 1)))
		s.add("push only p50 (baseline)", "ms", ms(quantile(push, .5)))
		s.add("push only p99 (baseline)", "ms", ms(quantile(push, .99)))
		s.add("like → output record p50", "ms", ms(quantile(worker, .5)))
		s.add("like → output record p99", "ms", ms(quantile(worker, .99)))
		s.add("likes acknowledged", "likes", float64(res.acked))
		s.add("likes seen in a push", "likes", float64(len(e2e)))
		s.add("like rate", "likes/s", float64(res.acked)/res.sending.Seconds())
		s.add("pushes received", "events", float64(len(push)))
		s.add("mean transaction commit", "ms", ms(res.meanCommit))
		s.add("CPU while sending", "cores", res.cores)
		s.add("CPU taken by other processes", "cores", res.others)
		s.add("errors", "requests", float64(res.errors))
		early += res.early
		unlisted += res.unlisted
		likes += len(e2e)
		cfg.Logger.Info("bench: latency run done", "run", run+1, "likes", len(e2e),
			"p50", quantile(e2e, .5).Round(100*time.Microsecond), "p99", quantile(e2e, .99).Round(100*time.Microsecond),
			"max", quantile(e2e, 1).Round(100*time.Microsecond), "push_p99", quantile(push, .99).Round(100*time.Microsecond))
	}
	rep.Figures = append(rep.Figures,
		s.figure("like → push p50", "push only p50 (baseline)", ""),
		s.figure("like → push p90", "", ""),
		s.figure("like → push p99", "push only p99 (baseline)", "< 300 ms"),
		s.figure("like → push max", "", ""),
		s.baseline("push only p50 (baseline)"),
		s.baseline("push only p99 (baseline)"),
		s.figure("like → output record p50", "", ""),
		s.figure("like → output record p99", "", ""),
		s.figure("likes acknowledged", "", ""),
		s.figure("likes seen in a push", "likes acknowledged", "all acknowledged"),
		s.figure("like rate", "", "≈ "+itoa(cfg.Rate)),
		s.figure("pushes received", "", ""),
		s.figure("mean transaction commit", "", ""),
		s.figure("CPU while sending", "", ""),
		s.figure("CPU taken by other processes", "", ""),
		s.figure("errors", "", "0"))
	rep.Notes = append(rep.Notes,
		"like → push: from the 200 of a like (POST, one like) to the Socket.IO client receiving the first live_windows_1min of its video and window whose count includes it (the window events: every window, late finals included; live_aggregations_1 skips the counts of a window older than one already sent) (like k of a (video, window), in the order of the 200s, is in counts ≥ k); every acknowledged like must be pushed, else the run fails",
		"push only (baseline): from a worker producing an output record (its timestamp, just before the transaction commits) to the client receiving that count: commit, read_committed fetch by the live view, coalescing flush (at most one per live_flush_interval), WebSocket",
		"like → output record: from the 200 to the worker producing the first output record that counts the like; a worker that owns the like's partition of both input topics (the log shows the assignment) counts it in the transaction that re-keys it: up to one commit interval plus the commit; otherwise it crosses two transactions, re-key then count",
		fmt.Sprintf("%d of %d likes were pushed before their 200 arrived (latency 0)", early, likes),
		fmt.Sprintf("%d pushes arrived while the output records were listed (a window closing, say) and were not matched with them", unlisted),
		"broker, workers, API, Socket.IO client and load generator share this machine's CPUs")
	return rep, nil
}

// latencyResult is one run of the latency scenario.
type latencyResult struct {
	e2e, worker, push []time.Duration // sorted
	early             int             // likes pushed before their 200
	unlisted          int             // pushes received while the output records were listed
	acked, errors     int64
	sending           time.Duration // how long the likes were sent
	cores, others     float64       // while sending
	meanCommit        time.Duration
}

func latencyRun(ctx context.Context, cfg LatencyConfig, run int) (res latencyResult, err error) {
	log := cfg.Logger.With("run", run+1)
	c, err := startCluster(ctx, cfg.Options)
	if err != nil {
		return res, err
	}
	defer c.close()
	ws, err := startWorkers(ctx, c, cfg.Workers, cfg.CommitInterval, quieter(log))
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := ws.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	node, err := apinode.Start(ctx, apinode.Config{
		Brokers: c.brokers, Sizes: policy().Sizes, Grace: Grace, FlushInterval: cfg.FlushInterval,
		WorkersGroup: benchGroup, Instance: "bench", Registry: prometheus.NewRegistry(), Logger: quieter(log),
	})
	if err != nil {
		return res, err
	}
	defer node.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := api.NewHTTPServer("", node.Handler())
	srv.RegisterOnShutdown(node.DisconnectClients)
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()

	log.Info("bench: waiting for the workers and the live view")
	if err := waitLatencyReady(ctx, c, ws, node, cfg.Workers); err != nil {
		return res, err
	}
	likes := newLikeLog()
	ids := loadgen.VideoIDs(cfg.Videos)
	smallest := policy().Sizes[0] // 1m: live_windows_1min
	clients, err := watch(ctx, base, smallest, append([]string{warmupVideo}, ids...), likes)
	if err != nil {
		return res, err
	}
	defer func() { closeAll(clients) }()
	send := newLikeSender(base, cfg.Connections, smallest.Millis, likes)
	defer send.close()
	log.Info("bench: warming up (likes of one video until one is pushed)")
	if err := send.warmUp(ctx, likes); err != nil {
		return res, err
	}

	log.Info("bench: sending likes", "rate", cfg.Rate, "duration", cfg.Duration, "videos", cfg.Videos,
		"assignment", assignment(ctx, c, benchGroup))
	stopProfile := startProfile(cfg.Options, run, "latency")
	cpu := startCPU()
	start := time.Now()
	send.paced(ctx, ids, cfg.Rate, cfg.Duration, uint64(run)+1)
	res.sending = time.Since(start)
	res.cores, res.others = cpu.cores()
	stopProfile()
	res.errors = send.errors.Load()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.errors > 0 {
		log.Warn("bench: some likes failed", "errors", res.errors, "first", send.firstError())
	}

	measured := func(video string) bool { return video != warmupVideo }
	if err := waitPushed(ctx, likes, measured, res.errors, cfg.Timeout, clients, log); err != nil {
		return res, err
	}
	_, _, res.meanCommit = ws.transactions()
	list := func() (map[likeKey][]cover, error) { return outputRecords(ctx, c, smallest) }
	if err := matchCommitted(likes, list, measured, &res); err != nil {
		return res, err
	}
	return res, nil
}

// matchCommitted matches the likes and pushes logged so far with the
// committed output records that list returns (see matchLatencies). The log
// is copied before list runs: a push received later (a window that closes
// meanwhile, say) may carry a record committed after list took the output
// topic's end offsets, which it would not find.
func matchCommitted(likes *likeLog, list func() (map[likeKey][]cover, error), measured func(string) bool, res *latencyResult) error {
	logged := likes.clone()
	records, err := list()
	if err != nil {
		return err
	}
	res.unlisted = likes.pushCount() - logged.pushCount()
	return matchLatencies(logged, records, measured, res)
}

// waitLatencyReady waits until the workers own every partition in a stable
// group and the live view has caught up.
func waitLatencyReady(ctx context.Context, c *cluster, ws *workerSet, node *apinode.Node, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := ws.failed(); err != nil {
			return err
		}
		if ws.ready() {
			stable, err := groupStable(ctx, c, benchGroup, n)
			if err == nil && stable {
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workers not ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
	select {
	case <-node.Ready():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("live view not ready: %w", ctx.Err())
	}
}

// watch connects Socket.IO clients (WebSocket) that register the videos,
// as many per client as a client may, consume the window events of size s
// (every count of every window), and record every push into likes.
func watch(ctx context.Context, base string, s window.Size, videos []string, likes *likeLog) ([]*livetest.Client, error) {
	event := live.WindowsEvent(s)
	onEvent := func(e livetest.Event) {
		if e.Name != event || len(e.Args) == 0 {
			return
		}
		var p struct {
			ID          string    `json:"id"`
			Count       uint64    `json:"count"`
			WindowStart time.Time `json:"window_start"`
			Final       bool      `json:"final"`
		}
		if json.Unmarshal(e.Args[0], &p) != nil || p.Count == 0 {
			return // count 0: the snapshot of a video without likes yet
		}
		likes.push(likeKey{p.ID, p.WindowStart.UnixMilli()}, p.Count, p.Final, e.At)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var clients []*livetest.Client
	for chunk := range slices.Chunk(videos, live.DefaultMaxVideos) {
		cl, err := livetest.Dial(ctx, base, onEvent)
		if err != nil {
			closeAll(clients)
			return nil, fmt.Errorf("Socket.IO client: %w", err)
		}
		clients = append(clients, cl)
		for _, call := range []struct {
			event string
			arg   any
		}{{live.EventRegister, map[string]any{"rooms": chunk}}, {live.ConsumeWindowsEvent(s), map[string]any{}}} {
			ack, err := cl.Call(ctx, call.event, call.arg)
			if err == nil && len(ack) > 0 && strings.Contains(string(ack[0]), `"error"`) {
				err = fmt.Errorf("refused: %s", ack[0])
			}
			if err != nil {
				closeAll(clients)
				return nil, fmt.Errorf("Socket.IO %s: %w", call.event, err)
			}
		}
	}
	return clients, nil
}

func closeAll(clients []*livetest.Client) {
	for _, cl := range clients {
		cl.Close()
	}
}

// likeSender sends single likes through the HTTP API and records their 200s
// in a likeLog, with the window of their event time.
type likeSender struct {
	client   *http.Client
	url      string // up to /videos/
	conns    int
	windowMs int64
	likes    *likeLog
	errors   atomic.Int64
	mu       sync.Mutex
	first    error
}

func newLikeSender(base string, conns int, windowMs int64, likes *likeLog) *likeSender {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	return &likeSender{
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		url:    base + "/" + api.DefaultStage + "/videos/", conns: conns, windowMs: windowMs, likes: likes,
	}
}

func (s *likeSender) close() { s.client.CloseIdleConnections() }

// like sends one like of video and records its 200.
func (s *likeSender) like(ctx context.Context, video string) {
	err := s.try(ctx, video)
	if err != nil && ctx.Err() == nil {
		s.errors.Add(1)
		s.mu.Lock()
		if s.first == nil {
			s.first = err
		}
		s.mu.Unlock()
	}
}

func (s *likeSender) try(ctx context.Context, video string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+video+"/likes", nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		// The 200 has arrived (its header): this is the like's time.
		ts, perr := time.Parse(time.RFC3339Nano, resp.Header.Get(api.EventTimeHeader))
		if perr == nil {
			s.likes.ack(likeKey{video, window.Of(ts.UnixMilli(), s.windowMs).Start})
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if perr != nil {
			return fmt.Errorf("200 without a valid %s: %w", api.EventTimeHeader, perr)
		}
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

func (s *likeSender) firstError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

// warmUp likes warmupVideo every 20 ms until one of those likes was pushed,
// and for at least a second: connections, producer, workers' fetch
// sessions and the push are warm.
func (s *likeSender) warmUp(ctx context.Context, likes *likeLog) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.like(ctx, warmupVideo)
		select {
		case <-ctx.Done():
			return fmt.Errorf("warm-up: no like pushed within a minute (%d sent, %d failed, first error: %v)",
				likes.acked(warmupVideo), s.errors.Load(), s.firstError())
		case <-tick.C:
		}
		if time.Since(start) < time.Second {
			continue
		}
		likes.mu.Lock()
		pushed := false
		for k, r := range likes.reach {
			pushed = pushed || (k.video == warmupVideo && r > 0)
		}
		likes.mu.Unlock()
		if pushed {
			// Failures while the path was warming up are not the
			// measurement's.
			s.errors.Store(0)
			s.mu.Lock()
			s.first = nil
			s.mu.Unlock()
			return nil
		}
	}
}

// paced sends rate likes per second for d over the sender's connections,
// each of a video drawn uniformly from ids: like k is due at k/rate after
// the start (a connection that falls behind sends at once).
func (s *likeSender) paced(ctx context.Context, ids []string, rate int, d time.Duration, seed uint64) {
	start := time.Now()
	interval := float64(time.Second) / float64(rate)
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := range s.conns {
		pick, _ := loadgen.NewPicker(loadgen.Uniform, len(ids), seed*1000+uint64(i))
		wg.Go(func() {
			for ctx.Err() == nil {
				due := start.Add(time.Duration(float64(next.Add(1)-1) * interval))
				if !due.Before(start.Add(d)) {
					return
				}
				if wait := time.Until(due); wait > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
				s.like(ctx, ids[pick.Next()])
			}
		})
	}
	wg.Wait()
}

// waitPushed waits until every acknowledged like of the measured videos has
// been pushed, for at most timeout. Without failed requests, a count above
// the likes acknowledged means a like was counted twice.
func waitPushed(ctx context.Context, likes *likeLog, measured func(string) bool, errs int64, timeout time.Duration, clients []*livetest.Client, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		uncovered, extra := likes.pending(measured)
		if uncovered == 0 {
			if extra > 0 && errs == 0 {
				return fmt.Errorf("pushed counts hold %d likes more than were acknowledged, and no request failed: counted twice?", extra)
			}
			return nil
		}
		for _, cl := range clients {
			select {
			case <-cl.Done():
				return errors.New("the Socket.IO client was disconnected")
			default:
			}
		}
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("%d acknowledged likes were not pushed within %v of the last one", uncovered, timeout)
		case <-tick.C:
		}
	}
}

// recordKey identifies an output record of the smallest window size.
type recordKey struct {
	likeKey
	count uint64
	final bool
}

// outputRecords reads the committed output records of size s and returns
// their timestamps (when the worker produced them) by key, and per
// likeKey in order of production.
func outputRecords(ctx context.Context, c *cluster, s window.Size) (map[likeKey][]cover, error) {
	topic := topics.Output(s)
	ends, err := c.stableEnds(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[likeKey][]cover{}
	var bad error
	err = consume(ctx, c.brokers, map[string]map[int32]int64{topic: ends}, func(r *kgo.Record) {
		a, err := record.ParseAggregation(r.Value)
		if err != nil {
			bad = err
			return
		}
		k := likeKey{a.VideoUID, a.WindowStart.UnixMilli()}
		out[k] = append(out[k], cover{a.Count, a.Final, r.Timestamp.UnixNano()})
	})
	if err == nil {
		err = bad
	}
	for _, cs := range out {
		slices.SortStableFunc(cs, func(a, b cover) int { return cmp.Compare(a.at, b.at) })
	}
	return out, err
}

// matchLatencies computes the latencies of a run from the likes and pushes
// logged and the output records: like → push per like, like → output
// record per like, and output record → push per push.
func matchLatencies(likes *likeLog, records map[likeKey][]cover, measured func(string) bool, res *latencyResult) error {
	for _, k := range likes.keys(measured) {
		acks, pushes := likes.snapshot(k)
		res.acked += int64(len(acks))
		e2e := coverLikes(acks, pushes)
		res.e2e = append(res.e2e, e2e.latencies...)
		res.early += e2e.early
		if len(e2e.latencies) != len(acks) {
			return fmt.Errorf("video %s, window %s: %d of %d likes pushed", k.video,
				time.UnixMilli(k.start).UTC().Format(time.RFC3339), len(e2e.latencies), len(acks))
		}
		res.worker = append(res.worker, coverLikes(acks, records[k]).latencies...)
		produced := map[recordKey]int64{}
		for _, r := range records[k] {
			rk := recordKey{k, r.count, r.final}
			if _, ok := produced[rk]; !ok {
				produced[rk] = r.at
			}
		}
		for _, p := range pushes {
			at, ok := produced[recordKey{k, p.count, p.final}]
			if !ok {
				return fmt.Errorf("video %s: count %d (final %v) was pushed, but no committed output record holds it", k.video, p.count, p.final)
			}
			res.push = append(res.push, time.Duration(max(0, p.at-at)))
		}
	}
	for _, d := range [][]time.Duration{res.e2e, res.worker, res.push} {
		slices.Sort(d)
	}
	if len(res.e2e) == 0 {
		return errors.New("no like was acknowledged")
	}
	return nil
}
