// Package broker runs the embedded Kafka-compatible broker (franz-go's
// kfake) for one-machine setups: counter dev and counter broker. It speaks
// the real Kafka protocol, so the workers and the API use the same code path
// as against Apache Kafka.
package broker

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures the embedded broker.
type Config struct {
	// Port to listen on at 127.0.0.1.
	Port int
	// DataDir persists topics, offsets, groups and transactions; empty
	// keeps everything in memory.
	DataDir string
	// MinSessionTimeout is the smallest consumer session timeout accepted
	// (Kafka's group.min.session.timeout.ms); tests lower it.
	MinSessionTimeout time.Duration
	Logger            *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	c      *kfake.Cluster
	unlock func() // releases the data dir lock (lock.go)
}

// Start starts the broker.
func Start(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.WithLogger(logger{cfg.Logger.With("component", "broker")}),
		kfake.BrokerConfigs(map[string]string{"transaction.max.timeout.ms": "900000"}),
	}
	if cfg.MinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.MinSessionTimeout))
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
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("starting embedded broker on port %d: %w", cfg.Port, err)
	}
	return &Broker{c: c, unlock: unlock}, nil
}

// Addrs returns the broker's listen addresses (host:port).
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker, flushing its data to disk.
func (b *Broker) Close() {
	b.c.Close()
	b.unlock()
}

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
