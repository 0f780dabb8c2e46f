package kafkaconn

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The causes Probe ends with when the brokers keep closing the connection
// in the middle of SASL authentication, or of the TLS handshake.
var (
	errAuthClosed      = errors.New("the brokers closed the connection during SASL authentication, twice")
	errHandshakeClosed = errors.New("the brokers closed the connection during the TLS handshake, twice")
)

// authWatch is a franz-go hook that notices the brokers closing the
// connection while the client authenticates: how a broker refuses
// credentials when it does not answer SASL_AUTHENTICATION_FAILED first (the
// embedded broker does not), and which franz-go retries like any closed
// connection. Two such closes end the probe (stop). With TLS, it also
// notices the brokers closing the connection during the handshake: how a
// Kafka listener without TLS answers a TLS client (it reads the hello as an
// oversized request).
type authWatch struct {
	tls                bool
	closes, handshakes atomic.Int32
	stop               context.CancelCauseFunc
}

// OnBrokerConnect implements kgo.HookBrokerConnect. A TLS dial fails in the
// handshake, after the connection was made, with io.EOF or a reset read
// (the broker closed with the hello unread); one that could not connect
// fails with a *net.OpError of the dial.
func (w *authWatch) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	var op *net.OpError
	closed := errors.Is(err, io.EOF) || (errors.As(err, &op) && op.Op == "read")
	if w.tls && closed && w.handshakes.Add(1) >= 2 {
		w.stop(errHandshakeClosed)
	}
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (w *authWatch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	// No reset on success: a SCRAM exchange has a successful first step,
	// and the probe ends at its first answered request anyway.
	if key == int16(kmsg.SASLAuthenticate) && err != nil && w.closes.Add(1) >= 2 {
		w.stop(errAuthClosed)
	}
}
