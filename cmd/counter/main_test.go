package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	cases := []struct {
		args     []string
		env      map[string]string
		code     int
		contains string
	}{
		{nil, nil, 2, "Commands:"},
		{[]string{"help"}, nil, 0, "worker"},
		{[]string{"help", "dev"}, nil, 0, "COUNTER_KAFKA_PORT"},
		{[]string{"worker", "-h"}, nil, 0, "COUNTER_BROKERS"},
		{[]string{"api", "-h"}, nil, 0, "COUNTER_CORS_ORIGINS"},
		{[]string{"broker", "-h"}, nil, 0, "COUNTER_DATA_DIR"},
		{[]string{"audit", "-h"}, nil, 0, "COUNTER_SETTLE"},
		{[]string{"audit", "--from", "yesterday"}, nil, 2, "--from"},
		{[]string{"frobnicate"}, nil, 2, `unknown command "frobnicate"`},
		{[]string{"dev", "--no-such-flag"}, nil, 2, "no-such-flag"},
		{[]string{"dev", "--windows", "1m,60s"}, nil, 2, "the same"},
		{[]string{"dev", "--workers", "0"}, nil, 2, "--workers 0"},
		{[]string{"dev", "--log-level", "loud"}, nil, 2, "--log-level"},
		{[]string{"dev", "extra"}, nil, 2, "unexpected argument"},
		{[]string{"dev"}, map[string]string{"COUNTER_GRACE": "soon"}, 2, "COUNTER_GRACE"},
		{[]string{"worker", "--brokers", "nohostport"}, nil, 2, "not host:port"},
		{[]string{"api", "--partitions", "0"}, nil, 2, "--partitions 0"},
		{[]string{"topics", "-h"}, nil, 0, "COUNTER_MIN_INSYNC_REPLICAS"},
		{[]string{"topics"}, nil, 2, "want an action: counter topics create|describe"},
		{[]string{"topics", "list"}, nil, 2, "want an action"},
		{[]string{"topics", "create", "--replication-factor", "1", "--min-insync-replicas", "2"}, nil, 2, "--min-insync-replicas 2 exceeds --replication-factor 1"},
		{[]string{"worker", "--replication-factor", "-1"}, nil, 2, "--replication-factor -1"},
		{[]string{"broker", "--listen", "0.0.0.0:70000"}, nil, 2, "--listen \"0.0.0.0:70000\": port out of range"},
		{[]string{"broker", "--listen", ":9094"}, nil, 2, "--listen has no host"},
		{[]string{"broker", "--nodes", "0"}, nil, 2, "--nodes 0: want 1 to 16"},
		{[]string{"worker", "--sasl-mechanism", "GSSAPI", "--sasl-user", "u", "--sasl-password", "p"}, nil, 2, "want one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"},
		{[]string{"api", "--sasl-mechanism", "PLAIN", "--sasl-user", "u"}, nil, 2, "COUNTER_SASL_PASSWORD"},
		{[]string{"audit", "--tls-cert-file", "c.pem"}, nil, 2, "--tls-cert-file and --tls-key-file go together"},
		{[]string{"worker", "--tls-ca-file", "/no/such/ca.pem"}, nil, 2, "--tls-ca-file"},
		{[]string{"broker", "--sasl-user", "u"}, nil, 2, "--sasl-user needs a password"},
		{[]string{"broker", "--data-dir", "", "--port", "0"}, map[string]string{"COUNTER_SASL_PASSWORD": "p"}, 2, "a SASL password without --sasl-user"},
		{[]string{"broker", "--tls-key-file", "k.pem"}, nil, 2, "--tls-cert-file and --tls-key-file go together"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v) // restored when the subtest ends
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb)
			text := out.String() + errb.String()
			if code != c.code || !strings.Contains(text, c.contains) {
				t.Errorf("counter %v: exit %d, want %d; output lacks %q:\n%s", c.args, code, c.code, c.contains, text)
			}
		})
	}
}

// The README documents every flag of every command.
func TestReadmeListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range program().Commands {
		var out bytes.Buffer
		if code := run(context.Background(), []string{c.Name, "-h"}, &out, &out); code != 0 {
			t.Fatalf("%s -h: exit %d", c.Name, code)
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if !strings.HasPrefix(line, "  --") {
				continue
			}
			flag := strings.Fields(line)[0]
			if !bytes.Contains(readme, []byte("`"+flag+"`")) {
				t.Errorf("README does not document %s of counter %s", flag, c.Name)
			}
		}
	}
}

func TestOpsHandler(t *testing.T) {
	ready := false
	h := opsHandler(newRegistry(), func() bool { return ready })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz while restoring: %d", code)
	}
	ready = true
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics %d", code)
	}
}
