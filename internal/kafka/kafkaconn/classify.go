package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
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

// Error says what failed, where, and what to check.
func (e *Error) Error() string {
	return fmt.Sprintf("kafka at %s: %s: %v", strings.Join(e.Brokers, ","), e.Hint, e.Err)
}

// Unwrap returns the client's error.
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

// hintNoTLS is the hint of a TLS client meeting a plaintext listener.
const hintNoTLS = "TLS: the brokers do not speak TLS on this port: check --tls and --brokers"

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
		return hintNoTLS
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
