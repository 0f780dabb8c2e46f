// Package kafkalog routes franz-go client logs to log/slog.
package kafkalog

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// New returns a kgo.Logger writing to log at warnings and errors only:
// franz-go's info level narrates every rebalance and transaction.
func New(log *slog.Logger) kgo.Logger { return logger{log.With("component", "kafka-client")} }

type logger struct{ log *slog.Logger }

func (l logger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		l.log.Error(msg, keyvals...)
	case kgo.LogLevelWarn:
		l.log.Warn(msg, keyvals...)
	default:
		l.log.Debug(msg, keyvals...)
	}
}
