package kafkaconn_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/testkit/testtls"
)

const secret = "s3cret-Pa55"

// parse parses args and env with Flags and returns the cluster.
func parse(t *testing.T, env map[string]string, args ...string) (kafkaconn.Cluster, error) {
	t.Helper()
	fs := cli.NewFlagSet("worker", "test")
	fs.SetOutput(io.Discard)
	fs.SetLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var f kafkaconn.Flags
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.Cluster()
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	files := testtls.New(t, dir)
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte(secret+"\r\n"), 0o600)
	emptyFile := filepath.Join(dir, "empty")
	os.WriteFile(emptyFile, nil, 0o600)
	scram := []string{"--sasl-mechanism", "scram-sha-256", "--sasl-user", "app"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    string // Config.String, or the error's text
		wantErr bool
	}{
		{"defaults", nil, nil, "plaintext", false},
		{"SCRAM, password flag", nil, append(scram, "--sasl-password", secret), "plaintext, SASL SCRAM-SHA-256 as app", false},
		{"password from the environment", map[string]string{"COUNTER_SASL_PASSWORD": secret}, scram, "plaintext, SASL SCRAM-SHA-256 as app", false},
		{"password file", nil, append(scram, "--sasl-password-file", pwFile), "plaintext, SASL SCRAM-SHA-256 as app", false},
		{"everything from the environment", map[string]string{"COUNTER_SASL_MECHANISM": "PLAIN", "COUNTER_SASL_USER": "app", "COUNTER_SASL_PASSWORD_FILE": pwFile, "COUNTER_TLS": "true"}, nil, "TLS, SASL PLAIN as app", false},
		{"a CA implies TLS", nil, []string{"--tls-ca-file", files.CAFile}, "TLS", false},
		{"insecure is said so", nil, []string{"--tls-insecure-skip-verify"}, "TLS (certificate NOT verified)", false},
		{"client certificate", nil, []string{"--tls-cert-file", files.CertFile, "--tls-key-file", files.KeyFile}, "TLS", false},
		{"password twice", nil, append(scram, "--sasl-password", secret, "--sasl-password-file", pwFile), "not both", true},
		{"missing password file", nil, append(scram, "--sasl-password-file", filepath.Join(dir, "nope")), "--sasl-password-file", true},
		{"empty password file", nil, append(scram, "--sasl-password-file", emptyFile), "is empty", true},
		{"unknown mechanism", nil, []string{"--sasl-mechanism", "GSSAPI", "--sasl-user", "app", "--sasl-password", secret}, "want one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", true},
		{"user without mechanism", nil, []string{"--sasl-user", "app", "--sasl-password", secret}, "need --sasl-mechanism", true},
		{"mechanism without user", nil, []string{"--sasl-mechanism", "PLAIN", "--sasl-password", secret}, "needs --sasl-user", true},
		{"mechanism without password", nil, scram, "COUNTER_SASL_PASSWORD", true},
		{"certificate without key", nil, []string{"--tls-cert-file", files.CertFile}, "go together", true},
		{"not a CA file", nil, []string{"--tls-ca-file", pwFile}, "no PEM certificate", true},
		{"bad brokers", nil, []string{"--brokers", "nohostport"}, "not host:port", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.env, tc.args...)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one saying %q", err, tc.want)
				}
				if !errors.As(err, new(cli.UsageError)) {
					t.Errorf("%v is not a usage error", err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Config.String(); got != tc.want {
				t.Errorf("connection %q, want %q", got, tc.want)
			}
			if c.Config.Mechanism != "" && c.Config.Password != secret {
				t.Errorf("password %q, want %q", c.Config.Password, secret)
			}
			if len(c.Brokers) != 1 || c.Brokers[0] != "localhost:9094" {
				t.Errorf("brokers %v", c.Brokers)
			}
		})
	}
}

// The password shows in no printed or logged form of a Config or Cluster.
func TestPasswordIsNeverShown(t *testing.T) {
	cfg := kafkaconn.Config{TLS: true, Mechanism: kafkaconn.ScramSHA512, User: "app", Password: secret}
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cluster := kafkaconn.Cluster{Brokers: []string{"b:9092"}, Opts: opts, Config: cfg}
	var out bytes.Buffer
	for _, v := range []any{cfg, &cfg, cluster, &cluster} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "v", v)
		slog.New(slog.NewTextHandler(&out, nil)).Info("x", "v", v)
	}
	if strings.Contains(out.String(), secret) {
		t.Errorf("the password shows:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "SASL SCRAM-SHA-512 as app") {
		t.Errorf("the connection is not described:\n%s", out.String())
	}
}

// Classify wraps what retrying cannot mend, with a hint, and leaves the
// rest alone.
func TestClassify(t *testing.T) {
	brokers := []string{"b1:9092"}
	for _, tc := range []struct {
		err  error
		hint string // "" for an error that is not permanent
	}{
		{fmt.Errorf("join: %w", kerr.SaslAuthenticationFailed), "SASL authentication failed"},
		{kerr.UnsupportedSaslMechanism, "do not offer this --sasl-mechanism"},
		{fmt.Errorf("init producer id: %w", kerr.TransactionalIDAuthorizationFailed), "check its ACLs"},
		{kerr.TopicAuthorizationFailed, "check its ACLs"},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "certificate does not verify"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "do not speak TLS"},
		{kerr.NotLeaderForPartition, ""},
		{kerr.CoordinatorNotAvailable, ""},
		{context.DeadlineExceeded, ""},
		{io.EOF, ""},
		{&kgo.ErrFirstReadEOF{}, ""}, // also a broker that is stopping: Probe decides on it
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ""},
	} {
		got := kafkaconn.Classify(brokers, tc.err)
		switch {
		case tc.hint == "" && (kafkaconn.Permanent(tc.err) || got != tc.err):
			t.Errorf("%v: taken for permanent (%v)", tc.err, got)
		case tc.hint != "" && (!kafkaconn.Permanent(got) || !strings.Contains(got.Error(), tc.hint) || !strings.Contains(got.Error(), "b1:9092") || !errors.Is(got, tc.err)):
			t.Errorf("%v: classified as %v, want a permanent error with %q", tc.err, got, tc.hint)
		}
	}
	if kafkaconn.Classify(brokers, nil) != nil {
		t.Error("nil classified as an error")
	}
}
