package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/testkit/testtls"
)

// securedBroker is a counter broker process that requires TLS and SASL.
type securedBroker struct {
	proc *proc
	// brokers is its address; password its user's password, also in
	// passwordFile; tls its certificates.
	brokers, password, passwordFile string
	tls                             testtls.Files
	// metrics is the URL of its /metrics.
	metrics string
}

const saslUser = "counter-app"

func startSecuredBroker(t *testing.T) *securedBroker {
	t.Helper()
	dir := t.TempDir()
	b := &securedBroker{
		brokers:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		password:     fmt.Sprintf("pw-%d-%s", time.Now().UnixNano(), "Zq7#"),
		passwordFile: filepath.Join(dir, "password"),
		tls:          testtls.New(t, dir),
	}
	if err := os.WriteFile(b.passwordFile, []byte(b.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(b.brokers, "127.0.0.1:")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	b.metrics = "http://" + metricsAddr + "/metrics"
	b.proc = start(t, "broker", "--port", port, "--data-dir", filepath.Join(dir, "broker"), "--min-session-timeout", "500ms", "--metrics-addr", metricsAddr,
		"--sasl-user", saslUser, "--sasl-password-file", b.passwordFile, "--tls-cert-file", b.tls.CertFile, "--tls-key-file", b.tls.KeyFile)
	b.proc.waitLog(t, "broker ready", 20*time.Second)
	return b
}

// flags are a client's connection flags, with mechanism; the password is
// given apart (a file, the environment).
func (b *securedBroker) flags(mechanism string) []string {
	return []string{"--brokers", b.brokers, "--tls-ca-file", b.tls.CAFile, "--sasl-mechanism", mechanism, "--sasl-user", saslUser}
}

// opts are the test's own client options for the broker.
func (b *securedBroker) opts(t *testing.T) kafkaconn.Cluster {
	t.Helper()
	c := kafkaconn.Config{TLS: true, CAFile: b.tls.CAFile, Mechanism: kafkaconn.ScramSHA256, User: saslUser, Password: b.password}
	opts, err := c.Opts()
	if err != nil {
		t.Fatal(err)
	}
	return kafkaconn.Cluster{Brokers: []string{b.brokers}, Opts: opts, Config: c}
}

// get returns the body of a GET.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return string(body)
}

// Issue 13, acceptance 1 and 5: against a broker that requires TLS and
// SASL, workers and the API connect with the right credentials (SCRAM and
// PLAIN; the password from a file, the environment) and count exactly; the
// password appears in no log, no /metrics, no help.
func TestSecuredClusterCountsExactly(t *testing.T) {
	b := startSecuredBroker(t)
	dir := t.TempDir()
	common := []string{"--windows", "2s", "--grace", "500ms", "--partitions", "2"}
	envPassword := []string{kafkaconn.PasswordEnv + "=" + b.password}
	metricsPort := freePort(t)
	w1 := startEnv(t, envPassword, append(append([]string{"worker", "--id", "w1", "--state-dir", filepath.Join(dir, "w1"),
		"--session-timeout", "2s", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPort)}, b.flags(kafkaconn.ScramSHA512)...), common...)...)
	w2 := start(t, append(append([]string{"worker", "--id", "w2", "--state-dir", filepath.Join(dir, "w2"), "--session-timeout", "2s",
		"--sasl-password-file", b.passwordFile}, b.flags(kafkaconn.ScramSHA256)...), common...)...)
	api := start(t, append(append([]string{"api", "--http-addr", "127.0.0.1:0", "--sasl-password-file", b.passwordFile},
		b.flags(kafkaconn.Plain)...), common...)...)
	base := "http://" + api.waitLog(t, "API listening", 30*time.Second)["http"].(string)
	for _, w := range []*proc{w1, w2} {
		if c := w.waitLog(t, "connected to kafka", 20*time.Second)["connection"]; !strings.Contains(fmt.Sprint(c), "TLS, SASL") {
			t.Errorf("worker logs its connection as %v", c)
		}
	}

	ld := &loader{acked: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	ld.run(ctx, base, []string{"sec-a", "sec-b", "sec-c"})
	cancel()
	if len(ld.acked) == 0 {
		t.Fatalf("no like acknowledged (%d sent)", ld.sent)
	}
	waitTotals(t, []string{b.brokers}, []string{"2s"}, ld.acked, 30*time.Second, b.opts(t).Opts...)
	res := runAuditProcess(t, b.brokers, append(b.flags(kafkaconn.ScramSHA256), "--sasl-password-file", b.passwordFile,
		"--windows", "2s", "--grace", "500ms", "--settle", "1s", "--catch-up-timeout", "10s")...)
	if !res.OK() || res.Checked == 0 {
		t.Errorf("audit over the secured cluster: %d checked, %d drifting", res.Checked, res.Drifting)
	}

	// No secret in /metrics, the help or a log.
	exposed := map[string]string{
		"worker /metrics": get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)),
		"API /metrics":    get(t, base+"/metrics"),
		"broker /metrics": get(t, b.metrics),
	}
	for _, cmd := range []string{"worker", "api", "audit", "broker"} {
		help := exec.Command(binary, cmd, "-h")
		help.Env = append(os.Environ(), envPassword...)
		out, _ := help.CombinedOutput()
		exposed["counter "+cmd+" -h"] = string(out)
	}
	for _, p := range []*proc{w1, w2, api, b.proc} {
		p.stop(t, syscall.SIGTERM)
		exposed[fmt.Sprint("log of ", p.cmd.Args[1:3])] = p.log.String()
	}
	for what, text := range exposed {
		if strings.Contains(text, b.password) {
			t.Errorf("%s shows the SASL password", what)
		}
	}
	if !strings.Contains(exposed["API /metrics"], "counter_") || !strings.Contains(exposed["counter worker -h"], "--sasl-password") {
		t.Errorf("the texts checked for the password are not what they should be")
	}
	t.Logf("%d requests, acknowledged likes %v", ld.sent, ld.acked)
}

// Issue 13, acceptance 1: wrong credentials, a missing SASL or TLS, an
// unknown CA: every process stops within seconds, exit status not 0, with
// an error that says what to check, and does not show the password.
func TestWrongCredentialsFailFast(t *testing.T) {
	b := startSecuredBroker(t)
	dir := t.TempDir()
	wrong := "not-the-password-42"
	wrongFile := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrongFile, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	worker := func(id string) []string {
		return []string{"worker", "--id", id, "--state-dir", filepath.Join(dir, id), "--windows", "2s", "--partitions", "2"}
	}
	api := []string{"api", "--http-addr", "127.0.0.1:0", "--windows", "2s", "--partitions", "2"}
	audit := []string{"audit", "--windows", "2s"}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"worker wrong password SCRAM", append(worker("w-scram"), append(b.flags(kafkaconn.ScramSHA512), "--sasl-password-file", wrongFile)...), nil, "SASL authentication failed"},
		{"worker wrong password env", worker("w-env"), append([]string{kafkaconn.PasswordEnv + "=" + wrong}, envFlags(b.flags(kafkaconn.ScramSHA256))...), "SASL authentication failed"},
		{"api wrong password PLAIN", append(api, append(b.flags(kafkaconn.Plain), "--sasl-password", wrong)...), nil, "SASL authentication failed"},
		{"audit wrong user", append(audit, "--brokers", b.brokers, "--tls-ca-file", b.tls.CAFile, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "nobody", "--sasl-password-file", b.passwordFile), nil, "SASL authentication failed"},
		{"worker without SASL", append(worker("w-nosasl"), "--brokers", b.brokers, "--tls-ca-file", b.tls.CAFile), nil, "closed the connection at once"},
		{"worker without TLS", append(worker("w-notls"), "--brokers", b.brokers, "--sasl-mechanism", "PLAIN", "--sasl-user", saslUser, "--sasl-password-file", b.passwordFile), nil, "closed the connection at once"},
		{"api unknown CA", append(api, "--brokers", b.brokers, "--tls-ca-file", b.tls.OtherCAFile, "--sasl-mechanism", "PLAIN", "--sasl-user", saslUser, "--sasl-password-file", b.passwordFile), nil, "certificate does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			p := startEnv(t, tc.env, tc.args...)
			code, log := p.exited(t, 15*time.Second)
			took := time.Since(began)
			if code == 0 {
				t.Errorf("exit status 0")
			}
			if !strings.Contains(log, tc.want) {
				t.Errorf("the error does not say %q:\n%s", tc.want, tail(log, 10))
			}
			if strings.Contains(log, wrong) || strings.Contains(log, b.password) {
				t.Errorf("the log shows a password:\n%s", log)
			}
			if took > 10*time.Second {
				t.Errorf("took %v to fail", took)
			}
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), lastLine(log))
		})
	}
}

// envFlags turns flags --name value into environment variables.
func envFlags(flags []string) []string {
	var env []string
	for i := 0; i+1 < len(flags); i += 2 {
		env = append(env, cli.EnvName(strings.TrimPrefix(flags[i], "--"))+"="+flags[i+1])
	}
	return env
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	return string(lines[len(lines)-1])
}
