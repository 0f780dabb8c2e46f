package main

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn/connflags"
)

// brokerSecurity are the flags of counter broker that secure it: a SASL
// user that clients must authenticate as, and a TLS certificate.
type brokerSecurity struct {
	user              string
	password          connflags.Password
	certFile, keyFile string
}

func (s *brokerSecurity) register(fs *cli.FlagSet) {
	fs.StringVar(&s.user, "sasl-user", "", "require SASL (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) as this user, whose password comes from --sasl-password-file, $"+kafkaconn.PasswordEnv+" or --sasl-password; empty: no SASL")
	s.password.Register(fs, "--sasl-user")
	fs.StringVar(&s.certFile, "tls-cert-file", "", "PEM certificate of the broker: clients must connect with TLS (with --tls-key-file)")
	fs.StringVar(&s.keyFile, "tls-key-file", "", "PEM key of --tls-cert-file")
}

// config returns the broker's users and TLS configuration (nil, nil: a
// plaintext broker without authentication).
func (s *brokerSecurity) config() ([]broker.User, *tls.Config, error) {
	password, err := s.password.Value()
	if err != nil {
		return nil, nil, err
	}
	var users []broker.User
	switch {
	case s.user != "" && password == "":
		return nil, nil, cli.UsageError{Err: fmt.Errorf("--sasl-user needs a password: --sasl-password-file, $%s or --sasl-password", kafkaconn.PasswordEnv)}
	case s.user == "" && password != "":
		return nil, nil, cli.UsageError{Err: errors.New("a SASL password without --sasl-user")}
	case s.user != "":
		users = []broker.User{{Name: s.user, Password: password}}
	}
	if (s.certFile == "") != (s.keyFile == "") {
		return nil, nil, cli.UsageError{Err: errors.New("--tls-cert-file and --tls-key-file go together")}
	}
	if s.certFile == "" {
		return users, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, nil, cli.UsageError{Err: fmt.Errorf("--tls-cert-file, --tls-key-file: %w", err)}
	}
	return users, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
