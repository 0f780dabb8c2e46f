package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode"
	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/ingest"
	"github.com/counter-dev/counter/internal/apinode/live"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/httpserve"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn/connflags"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

const apiSummary = "run only the HTTP API (ingestion, catalog, live counts over Socket.IO, like generator, health, metrics)"

// apiFlags configure the HTTP API.
type apiFlags struct {
	httpAddr       string
	stage          string
	corsOrigins    []string
	produceTimeout time.Duration
	flushInterval  time.Duration
	group          string
	standbys       int
	grace          time.Duration
	// replication is the replication factor of the topics the API
	// creates; set by the caller from --replication-factor.
	replication int16
	// ready, if set, is also required for GET /readyz (counter dev: its
	// workers).
	ready func() bool

	http httpFlags
	// Set by check from http.
	limits    httpserve.Limits
	token     string
	likeLimit api.LikeLimit
}

func (a *apiFlags) register(fs *cli.FlagSet) {
	fs.StringVar(&a.httpAddr, "http-addr", ":3000", "address of the HTTP API")
	fs.StringVar(&a.stage, "stage", api.DefaultStage, "first path segment of the API routes: /{stage}/videos/...")
	fs.ListVar(&a.corsOrigins, "cors-origins", []string{"*"}, "browser origins allowed to call the API, comma-separated: exact origins (https://app.example.com), or * for any")
	fs.DurationVar(&a.produceTimeout, "produce-timeout", ingest.DefaultTimeout, "how long a like request waits for the broker before answering 503")
	fs.DurationVar(&a.flushInterval, "live-flush-interval", live.DefaultFlushInterval, "shortest time between two Socket.IO pushes of count changes (changes in between are coalesced)")
	a.http.register(fs)
}

// registerCluster adds the flags of the cluster view (counter api only:
// counter dev knows its workers' settings).
func (a *apiFlags) registerCluster(fs *cli.FlagSet) {
	fs.StringVar(&a.group, "group", topics.WorkersGroup, "consumer group of the workers, for GET /{stage}/cluster")
	fs.IntVar(&a.standbys, "standby-replicas", 1, "the workers' --standby-replicas, for GET /{stage}/cluster")
	fs.DurationVar(&a.grace, "grace", window.DefaultGrace, "the workers' --grace: the like generator gives up likes it could not send before their window closed")
}

func (a *apiFlags) check() error {
	if a.stage == "" {
		return cli.UsageError{Err: errors.New("--stage is empty")}
	}
	if a.produceTimeout <= 0 {
		return cli.UsageError{Err: errors.New("--produce-timeout must be positive")}
	}
	if a.grace < 0 {
		return cli.UsageError{Err: errors.New("--grace must not be negative")}
	}
	if a.flushInterval <= 0 || a.flushInterval > 10*time.Second {
		return cli.UsageError{Err: errors.New("--live-flush-interval must be positive and at most 10s")}
	}
	if err := api.CheckOrigins(a.corsOrigins); err != nil {
		return cli.UsageError{Err: fmt.Errorf("--cors-origins: %w", err)}
	}
	var err error
	if a.limits, err = a.http.limits(); err != nil {
		return err
	}
	if a.token, err = a.http.token(); err != nil {
		return err
	}
	a.likeLimit, err = a.http.likeLimit()
	return err
}

// start builds the API server (package apinode: likes, catalog, live view
// and Socket.IO push, generator, cluster view); the returned function
// releases its resources after the server has shut down.
func (a *apiFlags) start(ctx context.Context, cluster kafkaconn.Cluster, sizes []window.Size, reg *prometheus.Registry, log *slog.Logger) (*http.Server, func(), error) {
	node, err := apinode.Start(ctx, apinode.Config{
		Brokers: cluster.Brokers, KafkaOpts: cluster.Opts, Sizes: sizes, Grace: a.grace, Stage: a.stage, CORSOrigins: a.corsOrigins, ProduceTimeout: a.produceTimeout,
		Replication: a.replication, WorkersGroup: a.group, Standbys: a.standbys, FlushInterval: a.flushInterval,
		AdminToken: a.token, LikeLimit: a.likeLimit, Ready: a.ready, Registry: reg, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	if a.token == "" {
		log.Info("admin routes are open to anyone who can reach the API: set --admin-token to guard them")
	}
	srv := httpserve.NewServer(a.httpAddr, node.Handler(), a.limits, log)
	// Shutdown does not wait for hijacked WebSocket connections and would
	// wait for pending long-polls: end the Socket.IO sessions first.
	srv.RegisterOnShutdown(node.DisconnectClients)
	return srv, node.Close, nil
}

func runAPI(ctx context.Context, args []string, stderr io.Writer) error {
	fs := cli.NewFlagSet("api", apiSummary+".")
	var (
		kf connflags.Flags
		af apiFlags
		pf topicFlags
		lf cli.LogFlags
	)
	kf.Register(fs)
	af.register(fs)
	af.registerCluster(fs)
	pf.register(fs)
	lf.Register(fs)
	if err := cli.Parse(fs, args, stderr); err != nil {
		return err
	}
	log, err := lf.Logger(stderr)
	if err != nil {
		return err
	}
	cluster, err := kf.Cluster()
	if err != nil {
		return err
	}
	sizes, err := pf.sizes()
	if err != nil {
		return err
	}
	spec, err := pf.spec()
	if err != nil {
		return err
	}
	if err := af.check(); err != nil {
		return err
	}
	if cli.CheckOnly(ctx) {
		return nil
	}
	spec, _, err = ensureTopics(ctx, cluster, append(topics.Pipeline(sizes), apinode.Topics()...), spec, log)
	if err != nil {
		return err
	}
	af.replication = spec.Replication
	srv, closeAPI, err := af.start(ctx, cluster, sizes, newRegistry(), log)
	if err != nil {
		return err
	}
	defer closeAPI()
	ln, err := net.Listen("tcp", af.httpAddr)
	if err != nil {
		return fmt.Errorf("HTTP API: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("API listening", "http", ln.Addr().String(), "stage", af.stage, "brokers", cluster.Brokers)
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("HTTP server on %s: %w", af.httpAddr, err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}
