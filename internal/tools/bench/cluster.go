package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Options are the settings every scenario shares.
type Options struct {
	// Runs is how many times each measurement is repeated; figures are
	// medians. At least 1.
	Runs int
	// Partitions of every topic.
	Partitions int
	// ProfileDir, when not empty, receives CPU profiles of the measured
	// phases of the first run.
	ProfileDir string
	// Binary is the counter executable run as child processes (workers whose
	// memory is measured).
	Binary string
	// Logger receives progress messages and the logs of in-process
	// components.
	Logger *slog.Logger
}

// ErrInvalid is wrapped by the errors of scenarios given an invalid
// configuration.
var ErrInvalid = errors.New("invalid configuration")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (o *Options) check() error {
	if o.Runs < 1 || o.Runs > 100 {
		return invalid("runs %d: want 1 to 100", o.Runs)
	}
	if o.Partitions < 1 || o.Partitions > 1000 {
		return invalid("partitions %d: want 1 to 1000", o.Partitions)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Windows and Grace are the window policy of every scenario, as in
// production: sizes 1m, 5m, 10m, grace 5 s, default retention.
var (
	Windows = []string{"1m", "5m", "10m"}
	Grace   = 5 * time.Second
)

func policy() window.Policy {
	sizes, err := window.ParseSizes(Windows)
	if err != nil {
		panic(err) // fixed values
	}
	p, err := window.NewPolicy(sizes, Grace, 0)
	if err != nil {
		panic(err)
	}
	return p
}

// cluster is an embedded broker persisting to a temporary directory, with
// the pipeline's topics created.
type cluster struct {
	dir     string
	b       *broker.Broker
	brokers []string
	cl      *kgo.Client
	adm     *kadm.Client
	layout  topics.Layout
}

// startCluster starts a broker on a free port with its data in a new
// temporary directory and creates the topics.
func startCluster(ctx context.Context, o Options) (*cluster, error) {
	dir, err := os.MkdirTemp("", "counter-bench-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir}
	c.b, err = broker.Start(broker.Config{Port: 0, DataDir: filepath.Join(dir, "broker"), Logger: o.Logger})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.brokers = c.b.Addrs()
	if c.cl, err = kgo.NewClient(kgo.SeedBrokers(c.brokers...)); err != nil {
		c.close()
		return nil, err
	}
	c.adm = kadm.NewClient(c.cl)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c.layout, err = topics.Ensure(tctx, c.adm, policy().Sizes, topics.Spec{Partitions: int32(o.Partitions), Replication: 1})
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// path returns a path inside the cluster's temporary directory.
func (c *cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.dir}, parts...)...)
}

// stableEnds returns the last stable offset of every partition of topic.
func (c *cluster) stableEnds(ctx context.Context, topic string) (map[int32]int64, error) {
	ends, err := c.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// close stops the broker and deletes its directory.
func (c *cluster) close() {
	if c.cl != nil {
		c.cl.Close()
	}
	if c.b != nil {
		c.b.Close()
	}
	os.RemoveAll(c.dir)
}

// total returns the sum of the values.
func total(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
