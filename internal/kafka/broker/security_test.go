package broker_test

// Contract: the embedded broker (kfake) enforces SASL and TLS, and the
// client errors of a refused connection are ones kafkaconn recognizes as
// permanent (a process stops at once on them rather than retrying).

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/testkit/testtls"
)

// startSecured starts a broker with users (and TLS when tc is not nil).
func startSecured(t *testing.T, dir string, users []broker.User, files *testtls.Files) *broker.Broker {
	t.Helper()
	cfg := broker.Config{DataDir: dir, Users: users, Logger: testkit.Logger()}
	if files != nil {
		cfg.TLS = files.Server(t)
	}
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// metadata asks the broker for its metadata with conn's options, as a
// process does at start-up (kafkaconn.Cluster.Probe).
func metadata(t *testing.T, addrs []string, conn kafkaconn.Config) error {
	t.Helper()
	opts, err := conn.Opts()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return kafkaconn.Cluster{Brokers: addrs, Opts: opts, Config: conn}.Probe(ctx, testkit.Logger())
}

// refused checks that conn is refused with a permanent error, quickly.
func refused(t *testing.T, addrs []string, what string, conn kafkaconn.Config) {
	t.Helper()
	start := time.Now()
	err := metadata(t, addrs, conn)
	switch {
	case err == nil:
		t.Errorf("%s: accepted", what)
	case !kafkaconn.Permanent(err):
		t.Errorf("%s: refused with %v (%T), which kafkaconn does not take for permanent", what, err, err)
	case time.Since(start) > 5*time.Second:
		t.Errorf("%s: refused after %v", what, time.Since(start))
	default:
		t.Logf("%s: %v", what, err)
	}
}

// Kafka rule: a listener with SASL serves no request before the client
// authenticated; every mechanism checks the password.
func TestSASLIsEnforced(t *testing.T) {
	b := startSecured(t, t.TempDir(), []broker.User{{Name: "counter", Password: "right-pass"}}, nil)
	refused(t, b.Addrs(), "no SASL", kafkaconn.Config{})
	for _, m := range kafkaconn.Mechanisms {
		refused(t, b.Addrs(), m+" wrong password", kafkaconn.Config{Mechanism: m, User: "counter", Password: "wrong-pass"})
		refused(t, b.Addrs(), m+" unknown user", kafkaconn.Config{Mechanism: m, User: "nobody", Password: "right-pass"})
		if err := metadata(t, b.Addrs(), kafkaconn.Config{Mechanism: m, User: "counter", Password: "right-pass"}); err != nil {
			t.Errorf("%s with the right password: %v", m, err)
		}
	}
	// The authenticated client can do what the pipeline does.
	opts, _ := kafkaconn.Config{Mechanism: kafkaconn.ScramSHA512, User: "counter", Password: "right-pass"}.Opts()
	cl := newClient(t, b.Addrs(), append(opts, kgo.DefaultProduceTopic("secured"))...)
	createTopic(t, cl, "secured", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("like")).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// The users are the configured ones at every start: kfake saves them at a
// stop (PLAIN passwords in clear) and would load them over the new ones; the
// broker removes them.
func TestSASLUsersAreTheConfiguredOnes(t *testing.T) {
	dir := t.TempDir()
	b := startSecured(t, dir, []broker.User{{Name: "counter", Password: "old-pass"}}, nil)
	b.Close()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("old-pass")) {
				t.Errorf("%s holds the password after a stop", path)
			}
		}
		return nil
	})
	b = startSecured(t, dir, []broker.User{{Name: "counter", Password: "new-pass"}}, nil)
	refused(t, b.Addrs(), "the old password", kafkaconn.Config{Mechanism: kafkaconn.Plain, User: "counter", Password: "old-pass"})
	if err := metadata(t, b.Addrs(), kafkaconn.Config{Mechanism: kafkaconn.Plain, User: "counter", Password: "new-pass"}); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// Kafka rule: a TLS listener speaks TLS only; its certificate verifies
// against its CA and names its host.
func TestTLSIsEnforced(t *testing.T) {
	files := testtls.New(t, t.TempDir())
	users := []broker.User{{Name: "counter", Password: "right-pass"}}
	// With a data dir, the start-up recovery's own client goes through
	// SASL too.
	b := startSecured(t, t.TempDir(), users, &files)
	auth := kafkaconn.Config{Mechanism: kafkaconn.ScramSHA256, User: "counter", Password: "right-pass"}
	good := auth
	good.TLS, good.CAFile = true, files.CAFile
	if err := metadata(t, b.Addrs(), good); err != nil {
		t.Fatalf("TLS with the CA: %v", err)
	}
	refused(t, b.Addrs(), "plaintext", auth)
	other := good
	other.CAFile = files.OtherCAFile
	refused(t, b.Addrs(), "an unrelated CA", other)
	name := good
	name.ServerName = "kafka.example.com"
	refused(t, b.Addrs(), "another server name", name)
	wrong := good
	wrong.Password = "wrong-pass"
	refused(t, b.Addrs(), "TLS, wrong password", wrong)
	// Not checked: TLS to a plaintext listener. Kafka reads the client's
	// hello as an oversized request and closes the connection (a closed
	// handshake, which kafkaconn takes for permanent: its own test); kfake
	// waits for the rest of that request until the client's 10 s dial
	// timeout.
}
