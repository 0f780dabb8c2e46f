package connflags_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn/connflags"
	"github.com/counter-dev/counter/internal/testkit/testtls"
)

const secret = "s3cret-Pa55"

// parse parses args and env with Flags and returns the cluster.
func parse(t *testing.T, env map[string]string, args ...string) (kafkaconn.Cluster, error) {
	t.Helper()
	fs := cli.NewFlagSet("worker", "test")
	fs.SetOutput(io.Discard)
	fs.SetLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var f connflags.Flags
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

// The password's variable is the twin of --sasl-password.
func TestPasswordEnv(t *testing.T) {
	if got := cli.EnvName("sasl-password"); got != kafkaconn.PasswordEnv {
		t.Errorf("the twin of --sasl-password is %s, kafkaconn.PasswordEnv %s", got, kafkaconn.PasswordEnv)
	}
}
