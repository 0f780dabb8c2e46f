// Package broker runs the embedded Kafka-compatible broker (franz-go's
// kfake) for one-machine setups: counter dev and counter broker. It speaks
// the real Kafka protocol, so the workers and the API use the same code path
// as against Apache Kafka.
//
// kfake was written as a test fake; the Kafka guarantees the pipeline relies
// on are pinned by this package's contract tests, and the faults they found
// are worked around here (docs/embedded-broker.md): read_committed fetches
// keep their aborted-transaction lists, segment indexes cut short by a crash
// are rebuilt before kfake loads them, transactions left open by a stop
// end with a real ABORT marker before any client is served, and an
// idempotent producer's retry of a batch written before a crash is not
// written again.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/disk/diskspace"
)

// Config configures the embedded broker.
type Config struct {
	// Port to listen on (0 picks a free one); node i of a cluster listens
	// on Port+i.
	Port int
	// Nodes is the number of broker nodes of the cluster (1 if zero), each
	// on its own port: enough for topics replicated 3 times on one machine.
	Nodes int
	// ListenHost is the host or IP to listen on; DefaultListenHost if
	// empty. 0.0.0.0 or :: listen on every interface.
	ListenHost string
	// Advertise is the host, or host:port, that the nodes advertise to
	// clients in their metadata (node i with port+i): the address other
	// machines reach the broker at. Empty advertises the listen host and
	// ports, or this machine's host name for an unspecified listen host.
	Advertise string
	// DataDir persists topics, offsets, groups and transactions; empty
	// keeps everything in memory.
	DataDir string
	// MinSessionTimeout is the smallest consumer session timeout accepted
	// (Kafka's group.min.session.timeout.ms); tests lower it.
	MinSessionTimeout time.Duration
	// MinFreeDisk is the free space kept on the data dir's filesystem:
	// below it, new records are refused (KAFKA_STORAGE_ERROR) until space
	// is back. 0 disables the reserve.
	MinFreeDisk uint64
	// FreeSpace reads the free space of a directory (diskspace.Free when
	// nil); tests replace it.
	FreeSpace func(dir string) (uint64, error)
	// Users, when any, turn SASL on: clients must authenticate as one of
	// them, with any of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (they are
	// superusers: no ACLs). The users of the last run are not kept: each
	// start takes these (sasl.go).
	Users []User
	// TLS, when set, makes the broker speak TLS only, with its
	// certificate (Certificates or GetCertificate).
	TLS    *tls.Config
	Logger *slog.Logger
}

// DefaultListenHost is where the broker listens unless told otherwise:
// this machine only.
const DefaultListenHost = "127.0.0.1"

// Broker is a running embedded broker.
type Broker struct {
	c       *kfake.Cluster
	gates   *gates
	journal *intentJournal // nil without a data dir
	unlock  func()         // releases the data dir lock (lock.go)
	// selfAuth are the SASL options of the broker's own clients (none
	// without SASL); dataDir is Config.DataDir.
	selfAuth []kgo.Opt
	dataDir  string
	log      *slog.Logger
	stop     chan struct{} // stops keepReserve
	stopped  chan struct{}
}

// recoveryTimeout bounds the start-up pass that ends open transactions.
const recoveryTimeout = 5 * time.Minute

// Start starts the broker. With a data dir, it first locks the dir, then
// ends every transaction the last stop left open (endOpenTransactions);
// outside clients are accepted only after that.
func Start(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "broker")
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("broker data dir: %w", err)
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			unlock()
			return nil, fmt.Errorf("broker data dir: %w", err)
		}
	}
	if cfg.DataDir != "" {
		// Before kfake reads the logs: an index cut short by a crash
		// would hide open transactions from its reload (segindex.go).
		if _, err := repairSegmentIndexes(cfg.DataDir, log); err != nil {
			unlock()
			return nil, fmt.Errorf("embedded broker: checking the segment indexes in %s: %w", cfg.DataDir, err)
		}
		if err := forgetSeqWindows(cfg.DataDir); err != nil {
			unlock()
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
	}
	dedup := &retryDedup{log: log}
	b, err := open(cfg, ports(cfg.Port, cfg.Nodes), dedup, log)
	if err != nil {
		unlock()
		return nil, err
	}
	b.unlock = unlock
	if cfg.DataDir == "" {
		b.gates.open()
		return b, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), recoveryTimeout)
	defer cancel()
	completed, err := endOpenTransactions(ctx, b.gates.dial, b.selfAuth, b.c.ListenAddrs(), cfg.DataDir, dedup, log)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("embedded broker: ending the transactions left open in %s: %w", cfg.DataDir, err)
	}
	if len(completed) > 0 {
		// kfake's reload already counts the completed transactions as
		// aborted in its in-memory index, which a marker does not undo:
		// close (writing its snapshots), drop the snapshots of those
		// partitions so that kfake rebuilds their index from the log —
		// data, then the COMMIT marker — and open again.
		ports := b.gates.ports()
		b.closeCluster()
		for _, tx := range completed {
			if err := os.Remove(snapshotFile(cfg.DataDir, tx.topic, tx.partition)); err != nil && !errors.Is(err, os.ErrNotExist) {
				unlock()
				return nil, fmt.Errorf("embedded broker: %w", err)
			}
		}
		if b, err = open(cfg, ports, dedup, log); err != nil {
			unlock()
			return nil, err
		}
		b.unlock = unlock
	}
	b.journal.forget() // every commit it could hold is complete now
	if cfg.MinFreeDisk > 0 {
		g := diskspace.NewGuard(cfg.DataDir, cfg.MinFreeDisk)
		if cfg.FreeSpace != nil {
			g.WithFree(cfg.FreeSpace)
		}
		b.stop, b.stopped = make(chan struct{}), make(chan struct{})
		go func() { defer close(b.stopped); keepReserve(b.c, g, log, b.stop) }()
	}
	b.gates.open()
	return b, nil
}

// open starts kfake's nodes on ports behind closed gates, with the
// workarounds' control functions.
func open(cfg Config, ports []int, dedup *retryDedup, log *slog.Logger) (*Broker, error) {
	if cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil {
		return nil, errors.New("embedded broker: TLS needs a certificate")
	}
	host, port := cfg.advertised()
	b := &Broker{gates: &gates{listenHost: cfg.ListenHost, advertiseHost: host, advertisePort: port, tls: cfg.TLS}, unlock: func() {}}
	saslOpts, selfAuth, err := saslOptions(cfg.Users, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	b.selfAuth, b.dataDir, b.log = selfAuth, cfg.DataDir, log
	opts := []kfake.Opt{
		kfake.NumBrokers(len(ports)),
		kfake.Ports(ports...),
		kfake.ListenFn(b.gates.listen),
		kfake.WithLogger(logger{log}),
		kfake.BrokerConfigs(map[string]string{"transaction.max.timeout.ms": "900000"}),
	}
	if cfg.MinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.MinSessionTimeout))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	opts = append(opts, saslOpts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded broker on %s port %v: %w", cfg.ListenHost, ports, err)
	}
	b.c = c
	keepAbortedLists(c)
	if cfg.DataDir != "" {
		b.journal = journalCommits(c, cfg.DataDir, log)
		dedupRetries(c, dedup)
	}
	return b, nil
}

// snapshotFile is where kfake keeps the snapshot of a partition's index
// (pkg/kfake/persist.go: partDir, "snapshot.json"); without it, kfake
// rebuilds the index from the partition's log on load.
func snapshotFile(dataDir, topic string, partition int32) string {
	return filepath.Join(dataDir, "partitions", fmt.Sprintf("%s-%d", url.PathEscape(topic), partition), "snapshot.json")
}

// Addrs returns the addresses (host:port) the broker's nodes advertise.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker, flushing its data to disk.
func (b *Broker) Close() {
	if b.stop != nil {
		close(b.stop)
		<-b.stopped
	}
	b.closeCluster()
	if b.journal != nil {
		b.journal.forget() // a clean close completes every commit
	}
	b.unlock()
}

// closeCluster stops kfake and removes the users it saved (sasl.go).
func (b *Broker) closeCluster() {
	b.c.Close()
	if err := forgetUsers(b.dataDir); err != nil {
		b.log.Error("cannot remove the SASL users kfake saved", "err", err)
	}
}

// Compact runs log compaction on every compacted topic now (it also runs
// periodically); tests use it to check what compaction keeps.
func (b *Broker) Compact() { b.c.Compact() }

// logger adapts slog to kfake, passing on warnings and errors only.
type logger struct{ log *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error(fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		l.log.Warn(fmt.Sprintf(format, args...))
	}
}
