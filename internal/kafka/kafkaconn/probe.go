package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// probeAttempt bounds one metadata request of Probe.
const probeAttempt = 10 * time.Second

// Probe asks the cluster for its metadata until it answers (nil), ctx
// ends, or a failure retrying cannot mend happens (an *Error, at once): a
// process calls it at start-up, so that wrong credentials stop it with a
// clear error while a cluster that is not up yet is waited for.
func (c Cluster) Probe(ctx context.Context, log *slog.Logger) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	cl, err := c.NewClient(kgo.WithHooks(&authWatch{tls: c.Config.TLS, stop: stop}))
	if err != nil {
		return err
	}
	defer cl.Close()
	closed := 0 // attempts that ended in kgo.ErrFirstReadEOF
	for attempt := 0; ; attempt++ {
		reqCtx, cancel := context.WithTimeout(ctx, probeAttempt)
		_, err := kmsg.NewPtrMetadataRequest().RequestWith(reqCtx, cl)
		cancel()
		if err == nil {
			return nil
		}
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errAuthClosed):
			return &Error{Brokers: c.Brokers, Hint: hintSASL, Err: cause}
		case errors.Is(cause, errHandshakeClosed):
			return &Error{Brokers: c.Brokers, Hint: hintNoTLS, Err: cause}
		}
		if err = Classify(c.Brokers, err); Permanent(err) {
			return err
		}
		var eof *kgo.ErrFirstReadEOF
		if errors.As(err, &eof) {
			if closed++; closed >= 2 {
				return &Error{Brokers: c.Brokers, Hint: hintClosed, Err: err}
			}
			continue // at once: the broker answered, it is not down
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kafka at %s (%s): %w", strings.Join(c.Brokers, ","), c.Config, err)
		}
		if attempt%5 == 0 {
			log.Warn("cannot reach kafka yet; retrying", "brokers", c.Brokers, "connection", c.Config, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
