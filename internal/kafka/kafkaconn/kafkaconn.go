// Package kafkaconn holds how the processes connect to a Kafka cluster:
// TLS (a CA, a client certificate, the server name) and SASL (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512). A Config turns into franz-go options
// (Opts) that every client of a process is made with (NewClient); Probe
// checks the connection at start-up, telling a failure that retrying cannot
// mend (a refused password, a certificate that does not verify) from a
// cluster that is not up yet. Package connflags registers the flags of a
// Config.
//
// The SASL password never leaves the Config in text form: the Config logs
// and prints without it, and errors name the user, never the password.
package kafkaconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms a Config accepts.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// PasswordEnv is the environment variable of the SASL password: the twin
// of the --sasl-password flag (package connflags).
const PasswordEnv = "COUNTER_SASL_PASSWORD"

// Mechanisms lists the SASL mechanisms a Config accepts.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// Config is how to connect to the cluster; the zero Config is plaintext
// without authentication.
type Config struct {
	// TLS enables TLS; the TLS fields below are used only with it.
	TLS bool
	// CAFile is a PEM file of the CAs that sign the brokers' certificates;
	// the system's roots when empty.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// brokers that require one (mutual TLS); both or neither.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry; the
	// host of each broker address when empty.
	ServerName string
	// InsecureSkipVerify accepts any broker certificate: for tests only,
	// it gives up the protection TLS is for.
	InsecureSkipVerify bool

	// Mechanism is the SASL mechanism (one of Mechanisms); empty disables
	// SASL.
	Mechanism string
	// User and Password are the SASL credentials.
	User, Password string
}

// Check reports a Config that cannot work, naming the flags of Flags.
func (c Config) Check() error {
	if c.Mechanism == "" {
		if c.User != "" || c.Password != "" {
			return errors.New("--sasl-user and the password need --sasl-mechanism (" + strings.Join(Mechanisms, ", ") + ")")
		}
	} else {
		if canonical(c.Mechanism) == "" {
			return fmt.Errorf("--sasl-mechanism %q: want one of %s", c.Mechanism, strings.Join(Mechanisms, ", "))
		}
		if c.User == "" {
			return fmt.Errorf("--sasl-mechanism %s needs --sasl-user", canonical(c.Mechanism))
		}
		if c.Password == "" {
			return fmt.Errorf("--sasl-mechanism %s needs a password: --sasl-password-file, $%s or --sasl-password", canonical(c.Mechanism), PasswordEnv)
		}
	}
	if !c.TLS && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.InsecureSkipVerify) {
		return errors.New("the --tls-* flags need --tls")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("--tls-cert-file and --tls-key-file go together")
	}
	return nil
}

// canonical returns the mechanism's name as in Mechanisms (the match is
// case-insensitive), or "" when unknown.
func canonical(m string) string {
	for _, k := range Mechanisms {
		if strings.EqualFold(m, k) {
			return k
		}
	}
	return ""
}

// Opts returns the franz-go options of the connection: a TLS dialer and a
// SASL mechanism, as configured (none for the zero Config). It reads the
// certificate files.
func (c Config) Opts() ([]kgo.Opt, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if c.TLS {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := c.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// mechanism returns the SASL mechanism, or nil without SASL.
func (c Config) mechanism() sasl.Mechanism {
	switch canonical(c.Mechanism) {
	case Plain:
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism()
	case ScramSHA256:
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism()
	case ScramSHA512:
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism()
	}
	return nil
}

// String describes the connection without the password, e.g.
// "TLS, SASL SCRAM-SHA-256 as counter".
func (c Config) String() string {
	var parts []string
	if c.TLS {
		t := "TLS"
		if c.InsecureSkipVerify {
			t += " (certificate NOT verified)"
		}
		parts = append(parts, t)
	} else {
		parts = append(parts, "plaintext")
	}
	if m := canonical(c.Mechanism); m != "" {
		parts = append(parts, "SASL "+m+" as "+c.User)
	}
	return strings.Join(parts, ", ")
}

// GoString keeps %#v from printing the password.
func (c Config) GoString() string { return "kafkaconn.Config{" + c.String() + "}" }

// LogValue keeps the password out of logs: a Config logs as String.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON keeps the password out of JSON (a JSON log of a struct that
// holds a Config): a Config marshals as String.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// NewClient makes a client of the cluster at brokers with the connection
// options conn (from Opts; nil for plaintext) and the client's own opts.
func NewClient(brokers []string, conn []kgo.Opt, opts ...kgo.Opt) (*kgo.Client, error) {
	all := make([]kgo.Opt, 0, 1+len(conn)+len(opts))
	all = append(all, kgo.SeedBrokers(brokers...))
	all = append(all, conn...)
	return kgo.NewClient(append(all, opts...)...)
}
