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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/api"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/clusterview"
	"github.com/counter-dev/counter/internal/ingest"
	"github.com/counter-dev/counter/internal/kafkalog"
	"github.com/counter-dev/counter/internal/topics"
	"github.com/counter-dev/counter/internal/window"
	"github.com/counter-dev/counter/internal/worker"
)

const apiSummary = "run only the HTTP API (ingestion, catalog, health, metrics)"

// apiFlags configure the HTTP API.
type apiFlags struct {
	httpAddr       string
	stage          string
	corsOrigins    []string
	produceTimeout time.Duration
	group          string
	standbys       int
}

func (a *apiFlags) register(fs *cli.FlagSet) {
	fs.StringVar(&a.httpAddr, "http-addr", ":3000", "address of the HTTP API")
	fs.StringVar(&a.stage, "stage", api.DefaultStage, "first path segment of the API routes: /{stage}/videos/...")
	fs.ListVar(&a.corsOrigins, "cors-origins", []string{"*"}, "browser origins allowed to call the API, comma-separated; * allows any")
	fs.DurationVar(&a.produceTimeout, "produce-timeout", ingest.DefaultTimeout, "how long a like request waits for the broker before answering 503")
}

// registerCluster adds the flags of the cluster view (counter api only:
// counter dev knows its workers' settings).
func (a *apiFlags) registerCluster(fs *cli.FlagSet) {
	fs.StringVar(&a.group, "group", worker.DefaultGroup, "consumer group of the workers, for GET /{stage}/cluster")
	fs.IntVar(&a.standbys, "standby-replicas", 1, "the workers' --standby-replicas, for GET /{stage}/cluster")
}

func (a *apiFlags) check() error {
	if a.stage == "" {
		return usageError{errors.New("--stage is empty")}
	}
	if a.produceTimeout <= 0 {
		return usageError{errors.New("--produce-timeout must be positive")}
	}
	return nil
}

// start builds the API server; the returned function releases its Kafka
// producer after the server has shut down.
func (a *apiFlags) start(_ context.Context, brokers []string, _ []window.Size, reg *prometheus.Registry, log *slog.Logger) (*http.Server, func(), error) {
	sink, err := ingest.NewKafkaSink(ingest.SinkConfig{Brokers: brokers, Topic: topics.Ingestion, Timeout: a.produceTimeout, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.WithLogger(kafkalog.New(log)))
	if err != nil {
		sink.Close()
		return nil, nil, err
	}
	s := api.New(api.Config{Stage: a.stage, CORSOrigins: a.corsOrigins}, sink, reg, log)
	s.Handle("GET /{stage}/cluster", clusterview.Handler(kadm.NewClient(admCl), a.group, a.stage, a.standbys))
	closeAll := func() {
		sink.Close()
		admCl.Close()
	}
	return api.NewHTTPServer(a.httpAddr, s.Handler()), closeAll, nil
}

func runAPI(ctx context.Context, args []string, stderr io.Writer) error {
	fs := cli.NewFlagSet("api", apiSummary+".")
	var (
		brokers string
		af      apiFlags
		pf      topicFlags
		lf      logFlags
	)
	fs.StringVar(&brokers, "brokers", "localhost:9094", "Kafka seed brokers, comma-separated host:port")
	af.register(fs)
	af.registerCluster(fs)
	pf.register(fs)
	lf.register(fs)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	list, err := brokerList(brokers)
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
	if _, err := ensureTopics(ctx, list, sizes, spec, log); err != nil {
		return err
	}
	srv, closeAPI, err := af.start(ctx, list, sizes, newRegistry(), log)
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
	log.Info("API listening", "http", ln.Addr().String(), "stage", af.stage, "brokers", list)
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("HTTP server on %s: %w", af.httpAddr, err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}
