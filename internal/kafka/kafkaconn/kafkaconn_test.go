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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
)

const secret = "s3cret-Pa55"

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

// A TLS client of a plaintext Kafka listener: Kafka reads the hello as an
// oversized request and closes the connection, the rest of the hello unread
// (the client's read is reset) or read (it ends). The probe stops at once
// with a TLS hint rather than retry.
func TestProbeTLSAgainstPlaintextListener(t *testing.T) {
	for _, read := range []int{4, 64 << 10} {
		t.Run(fmt.Sprintf("closed after reading %d bytes", read), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Read(make([]byte, read))
					c.Close()
				}
			}()
			cluster, err := kafkaconn.NewCluster([]string{ln.Addr().String()}, kafkaconn.Config{TLS: true})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			began := time.Now()
			err = cluster.Probe(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if !kafkaconn.Permanent(err) || !strings.Contains(err.Error(), "do not speak TLS") {
				t.Fatalf("probe: %v, want a permanent error saying the brokers do not speak TLS", err)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}
