// Package apinode assembles one API instance: the HTTP API (package api)
// with its Kafka like sink, the shared video catalog (videos), the live view
// of the output topics (view, viewfeed) and its Socket.IO push (live), the
// cluster view (clusterview), the last audit (auditview), and the like
// generator (generator). Any number
// of instances can run against the same Kafka cluster: each holds the whole
// view, they share the catalog and the generator's state, and one of them
// runs the generator.
package apinode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/audit"
	"github.com/counter-dev/counter/internal/apinode/auditview"
	"github.com/counter-dev/counter/internal/apinode/clusterview"
	"github.com/counter-dev/counter/internal/apinode/generator"
	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/apinode/live"
	"github.com/counter-dev/counter/internal/apinode/videos"
	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/apinode/viewfeed"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Config configures an API instance. Zero fields take the defaults of the
// packages they configure.
type Config struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are the options of the connection to the brokers: TLS,
	// SASL (kafkaconn.Config.Opts); none for plaintext.
	KafkaOpts []kgo.Opt
	// Sizes are the window sizes of the workers; the smallest is the
	// generator's step.
	Sizes []window.Size
	// Grace is the workers' grace (window.DefaultGrace if zero): the
	// generator gives up likes it could not send before their window
	// closed.
	Grace time.Duration
	// Stage, CORSOrigins, AdminToken and LikeLimit configure the routes
	// (api.Config).
	Stage       string
	CORSOrigins []string
	AdminToken  string
	LikeLimit   api.LikeLimit
	// Ready, if set, is required besides the live view's having caught up
	// for GET /readyz to answer 200 (counter dev: its workers are ready).
	Ready func() bool
	// ProduceTimeout bounds a like request's wait for the broker.
	ProduceTimeout time.Duration
	// Replication is the replication factor of the topics the instance
	// creates (catalog, generator).
	Replication int16
	// WorkersGroup and Standbys describe the workers for the cluster view.
	WorkersGroup string
	Standbys     int
	// FlushInterval is the shortest time between two Socket.IO pushes.
	FlushInterval time.Duration
	// ViewKeep is how many windows before the current one the view keeps.
	ViewKeep int
	// Instance names the instance (in the generator's progress); the host
	// name and a random suffix if empty.
	Instance string
	// AuditMaxAge is how long GET /{stage}/audit serves an audit's result
	// before a request runs a new one (auditview.DefaultMaxAge if zero).
	AuditMaxAge time.Duration
	// AuditSettle: windows closed less than this long ago are not audited
	// (audit.Config.Settle).
	AuditSettle time.Duration
	// GeneratorSessionTimeout is how long a dead generator runner keeps
	// its role (leader.DefaultSessionTimeout if zero).
	GeneratorSessionTimeout time.Duration
	// PingInterval and PingTimeout configure the Socket.IO heartbeat.
	PingInterval, PingTimeout time.Duration
	// Registry receives the metrics and is served at /metrics.
	Registry *prometheus.Registry
	// Logger receives the logs; slog.Default() if nil.
	Logger *slog.Logger
}

// Node is a running API instance.
type Node struct {
	handler http.Handler
	hub     *live.Hub
	feed    *viewfeed.Feed
	cancel  context.CancelFunc
	done    chan struct{}
	closers []func() // in reverse order of creation
}

// Start builds and starts an instance. It returns once the catalog and the
// generator's state are loaded; the live view loads in the background
// (counts routes answer 503 until it caught up).
func Start(ctx context.Context, cfg Config) (n *Node, err error) {
	if len(cfg.Brokers) == 0 || len(cfg.Sizes) == 0 {
		return nil, errors.New("apinode: brokers and window sizes are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Instance == "" {
		cfg.Instance = defaultInstance()
	}
	if cfg.WorkersGroup == "" {
		cfg.WorkersGroup = topics.WorkersGroup
	}
	log := cfg.Logger
	n = &Node{done: make(chan struct{})}
	started := n // an error return sets n to nil
	defer func() {
		if err != nil {
			started.Close()
		}
	}()

	sink, err := ingest.NewKafkaSink(ingest.SinkConfig{Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Topic: topics.Ingestion, Timeout: cfg.ProduceTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, sink.Close)
	admCl, err := kafkaconn.NewClient(cfg.Brokers, cfg.KafkaOpts, kgo.WithLogger(kafkalog.New(log)))
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, admCl.Close)
	statuses, err := clusterview.NewStatuses(clusterview.StatusConfig{Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Logger: log, Registerer: cfg.Registry})
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, statuses.Close)

	catalogStore, err := videos.Open(ctx, videos.Config{Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Replication: cfg.Replication, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("video catalog: %w", err)
	}
	n.closers = append(n.closers, catalogStore.Close)

	v := view.New(cfg.Sizes, cfg.ViewKeep)
	// The feed tells the hub of changes; the hub sends counts once the
	// feed has caught up. Neither runs before the end of Start.
	n.feed = viewfeed.New(viewfeed.Config{Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Logger: log, Registerer: cfg.Registry}, v,
		func(changes []view.Change) { n.hub.Changed(changes) })
	n.hub = live.New(live.Config{FlushInterval: cfg.FlushInterval, AllowedOrigins: cfg.CORSOrigins, Ready: n.feed.Ready(),
		PingInterval: cfg.PingInterval, PingTimeout: cfg.PingTimeout, Logger: log, Registerer: cfg.Registry}, v)
	n.closers = append(n.closers, n.hub.Close)

	gen, err := generator.Open(ctx, generator.Config{
		Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Replication: cfg.Replication, StepMs: smallest(cfg.Sizes).Millis, Grace: cfg.Grace, Instance: cfg.Instance,
		SessionTimeout: cfg.GeneratorSessionTimeout, OnStatus: n.hub.PublishGenerator, Logger: log, Registerer: cfg.Registry,
	}, sink)
	if err != nil {
		return nil, fmt.Errorf("like generator: %w", err)
	}
	n.closers = append(n.closers, gen.Close)

	ready := n.feed.IsReady
	if cfg.Ready != nil {
		ready = func() bool { return n.feed.IsReady() && cfg.Ready() }
	}
	s := api.New(api.Config{Stage: cfg.Stage, CORSOrigins: cfg.CORSOrigins, Catalog: catalogStore,
		Counts: counts{v, n.feed}, Generator: gen, AdminToken: cfg.AdminToken, LikeLimit: cfg.LikeLimit, Ready: ready},
		sink, cfg.Registry, log)
	stage := cfg.Stage
	if stage == "" {
		stage = api.DefaultStage
	}
	s.Handle("GET /{stage}/cluster", clusterview.Handler(kadm.NewClient(admCl), cfg.WorkersGroup, stage, cfg.Standbys, statuses))
	grace := cfg.Grace
	if grace == 0 {
		grace = window.DefaultGrace
	}
	audits := auditview.New(auditview.Config{Stage: stage, Registerer: cfg.Registry, MaxAge: cfg.AuditMaxAge, Audit: audit.Config{
		Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, Sizes: cfg.Sizes, Grace: grace, Group: cfg.WorkersGroup, Settle: cfg.AuditSettle, Logger: log,
	}})
	s.Handle("GET /{stage}/audit", audits.Handler())
	mountWeb(s, stage, cfg.Sizes, grace)
	s.HandlePrefix(n.hub.Path(), n.hub.Handler())
	n.handler = s.Handler()

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		defer close(n.done)
		feedDone, statusesDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(feedDone)
			if err := n.feed.Run(runCtx); err != nil && runCtx.Err() == nil {
				log.Error("live view: cannot read the output topics", "err", err)
			}
		}()
		go func() { defer close(statusesDone); statuses.Run(runCtx) }()
		n.hub.Run(runCtx)
		<-feedDone
		<-statusesDone
	}()
	log.Info("API instance started", "instance", cfg.Instance)
	return n, nil
}

// Handler serves every route of the instance, Socket.IO included.
func (n *Node) Handler() http.Handler { return n.handler }

// Hub returns the Socket.IO application.
func (n *Node) Hub() *live.Hub { return n.hub }

// Ready is closed once the live view has caught up with the output topics.
func (n *Node) Ready() <-chan struct{} { return n.feed.Ready() }

// DisconnectClients closes every Socket.IO session, ending pending polls,
// so that an http.Server can shut down (register it with
// http.Server.RegisterOnShutdown). Clients reconnect, possibly elsewhere.
func (n *Node) DisconnectClients() { n.hub.Close() }

// Close stops the instance: the push, the feed, the generator (handing it
// over to another instance), the catalog and the Kafka clients.
func (n *Node) Close() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
	}
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	n.closers = nil
}

// counts adapts the view and its feed to api.Counts.
type counts struct {
	*view.View
	feed *viewfeed.Feed
}

func (c counts) Ready() bool { return c.feed.IsReady() }

func smallest(sizes []window.Size) window.Size {
	s := sizes[0]
	for _, x := range sizes[1:] {
		if x.Millis < s.Millis {
			s = x
		}
	}
	return s
}

func defaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "api"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
