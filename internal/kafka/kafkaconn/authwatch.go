package kafkaconn

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errAuthClosed is the cause Probe ends with when the brokers keep closing
// the connection in the middle of SASL authentication.
var errAuthClosed = errors.New("the brokers closed the connection during SASL authentication, twice")

// authWatch is a franz-go hook that notices the brokers closing the
// connection while the client authenticates: how a broker refuses
// credentials when it does not answer SASL_AUTHENTICATION_FAILED first (the
// embedded broker does not), and which franz-go retries like any closed
// connection. Two such closes end the probe (stop).
type authWatch struct {
	closes atomic.Int32
	stop   context.CancelCauseFunc
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (w *authWatch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	// No reset on success: a SCRAM exchange has a successful first step,
	// and the probe ends at its first answered request anyway.
	if key == int16(kmsg.SASLAuthenticate) && err != nil && w.closes.Add(1) >= 2 {
		w.stop(errAuthClosed)
	}
}
