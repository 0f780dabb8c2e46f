// Package connflags registers the command-line flags of a Kafka
// connection (kafkaconn.Config): --brokers, TLS and SASL, and the SASL
// password flags that counter broker shares.
package connflags

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
)

// Password is the SASL password flags: --sasl-password (and its
// environment variable) or --sasl-password-file. Their default is empty, so
// that no help text shows a password.
type Password struct {
	value, file string
}

// Register adds --sasl-password and --sasl-password-file to fs; whose
// says in the help whose password it is.
func (p *Password) Register(fs *cli.FlagSet, whose string) {
	fs.StringVar(&p.value, "sasl-password", "", "SASL password of "+whose+"; prefer $"+kafkaconn.PasswordEnv+" or --sasl-password-file: a command line is visible to every local user")
	fs.StringVar(&p.file, "sasl-password-file", "", "file holding the SASL password of "+whose+" (one trailing newline is ignored)")
}

// Value returns the password, reading the file if one is given.
func (p *Password) Value() (string, error) {
	if p.file == "" {
		return p.value, nil
	}
	if p.value != "" {
		return "", cli.UsageError{Err: errors.New("give the SASL password by --sasl-password (or $" + kafkaconn.PasswordEnv + ") or by --sasl-password-file, not both")}
	}
	b, err := os.ReadFile(p.file)
	if err != nil {
		return "", cli.UsageError{Err: fmt.Errorf("--sasl-password-file: %w", err)}
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", cli.UsageError{Err: fmt.Errorf("--sasl-password-file %s is empty", p.file)}
	}
	return s, nil
}

// Flags are the connection flags of a Kafka client process: --brokers,
// --tls and the --tls-* files, --sasl-mechanism, --sasl-user and the
// password.
type Flags struct {
	brokers  string
	conn     kafkaconn.Config
	password Password
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *cli.FlagSet) {
	fs.StringVar(&f.brokers, "brokers", "localhost:9094", "Kafka seed brokers, comma-separated host:port")
	fs.BoolVar(&f.conn.TLS, "tls", false, "connect to the brokers with TLS (implied by the --tls-* flags)")
	fs.StringVar(&f.conn.CAFile, "tls-ca-file", "", "PEM file of the CAs that sign the brokers' certificates (default: the system's)")
	fs.StringVar(&f.conn.CertFile, "tls-cert-file", "", "PEM client certificate, for brokers that require one (with --tls-key-file)")
	fs.StringVar(&f.conn.KeyFile, "tls-key-file", "", "PEM key of --tls-cert-file")
	fs.StringVar(&f.conn.ServerName, "tls-server-name", "", "name the brokers' certificates must carry (default: the host of each broker address)")
	fs.BoolVar(&f.conn.InsecureSkipVerify, "tls-insecure-skip-verify", false, "INSECURE, for tests only: accept any broker certificate")
	fs.StringVar(&f.conn.Mechanism, "sasl-mechanism", "", "SASL mechanism: "+strings.Join(kafkaconn.Mechanisms, ", ")+"; empty: no SASL")
	fs.StringVar(&f.conn.User, "sasl-user", "", "SASL user name")
	f.password.Register(fs, "--sasl-user")
}

// Cluster returns the cluster the flags describe; a bad flag is a
// cli.UsageError.
func (f *Flags) Cluster() (kafkaconn.Cluster, error) {
	brokers, err := cli.BrokerList(f.brokers)
	if err != nil {
		return kafkaconn.Cluster{}, err
	}
	c := f.conn
	if c.Password, err = f.password.Value(); err != nil {
		return kafkaconn.Cluster{}, err
	}
	c.TLS = c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.InsecureSkipVerify
	cluster, err := kafkaconn.NewCluster(brokers, c)
	if err != nil {
		return kafkaconn.Cluster{}, cli.UsageError{Err: err}
	}
	return cluster, nil
}
