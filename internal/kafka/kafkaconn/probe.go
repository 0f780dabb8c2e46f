package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Error is a connection failure that retrying cannot mend: the brokers
// refused the credentials, or TLS does not match on both sides.
type Error struct {
	// Brokers are the seed brokers.
	Brokers []string
	// Hint says what to check.
	Hint string
	// Err is the client's error.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("kafka at %s: %s: %v", strings.Join(e.Brokers, ","), e.Hint, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether err is a connection failure that retrying
// cannot mend (an *Error, or a client error that Classify recognizes).
func Permanent(err error) bool {
	var e *Error
	return errors.As(err, &e) || hint(err) != ""
}

// Classify returns err as an *Error when it is a connection failure that
// retrying cannot mend, and err unchanged otherwise.
func Classify(brokers []string, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	if h := hint(err); h != "" {
		return &Error{Brokers: brokers, Hint: h, Err: err}
	}
	return err
}

// hintSASL is the hint of refused credentials.
const hintSASL = "SASL authentication failed: check --sasl-mechanism, --sasl-user and the password"

// hint says what to check for an error that retrying cannot mend, or ""
// for any other error.
func hint(err error) string {
	var (
		header     tls.RecordHeaderError
		alert      tls.AlertError
		verify     *tls.CertificateVerificationError
		authority  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		tlsConnErr = errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid)
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState):
		return hintSASL
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return "the brokers do not offer this --sasl-mechanism"
	case errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TopicAuthorizationFailed),
		errors.Is(err, kerr.GroupAuthorizationFailed), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return "the brokers refuse this user the operation: check its ACLs"
	case tlsConnErr:
		return "TLS: the brokers' certificate does not verify: check --tls-ca-file and --tls-server-name"
	case errors.As(err, &header):
		return "TLS: the brokers do not speak TLS on this port: check --tls and --brokers"
	case errors.As(err, &alert):
		return "TLS: the brokers refused the handshake: check --tls-cert-file and --tls-key-file"
	}
	return ""
}

// hintClosed is the hint of connections the brokers keep closing at once
// (franz-go's ErrFirstReadEOF): what they do to a client without the TLS or
// SASL they require. A broker that is stopping does it too, so Probe takes
// it for permanent only when it repeats, and Permanent never does.
const hintClosed = "the brokers closed the connection at once: TLS or SASL differ from the brokers' (check --tls and --sasl-mechanism)"

// probeAttempt bounds one metadata request of Probe.
const probeAttempt = 10 * time.Second

// Probe asks the cluster for its metadata until it answers (nil), ctx
// ends, or a failure retrying cannot mend happens (an *Error, at once): a
// process calls it at start-up, so that wrong credentials stop it with a
// clear error while a cluster that is not up yet is waited for.
func (c Cluster) Probe(ctx context.Context, log *slog.Logger) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	cl, err := c.NewClient(kgo.WithHooks(&authWatch{stop: stop}))
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
		if cause := context.Cause(ctx); errors.Is(cause, errAuthClosed) {
			return &Error{Brokers: c.Brokers, Hint: hintSASL, Err: cause}
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
