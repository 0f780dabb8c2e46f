package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/cli"
)

// parseAPIFlags parses args and env (NAME=value pairs) as counter api's
// HTTP flags and checks them.
func parseAPIFlags(t *testing.T, args []string, env ...string) (*apiFlags, error) {
	t.Helper()
	fs := cli.NewFlagSet("api", "test")
	fs.SetOutput(io.Discard)
	vars := map[string]string{}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	fs.SetLookupEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	var af apiFlags
	af.register(fs)
	af.registerCluster(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &af, af.check()
}

func TestAdminTokenSources(t *testing.T) {
	const tok = "Zq9-token-from-somewhere"
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"--admin-token", tok}, nil},
		{"environment", nil, []string{"COUNTER_ADMIN_TOKEN", tok}},
		{"file", []string{"--admin-token-file", file}, nil},
	} {
		af, err := parseAPIFlags(t, c.args, c.env...)
		if err != nil || af.token != tok {
			t.Errorf("%s: token %q, err %v", c.name, af.token, err)
		}
	}
	if af, err := parseAPIFlags(t, nil); err != nil || af.token != "" {
		t.Errorf("no token: %q %v", af.token, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("two words\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--admin-token", tok, "--admin-token-file", file}, "both set"},
		{[]string{"--admin-token-file", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"--admin-token-file", empty}, "first line is empty"},
		{[]string{"--admin-token-file", bad}, "visible ASCII"},
		{[]string{"--admin-token", "secret with spaces"}, "visible ASCII"},
	} {
		_, err := parseAPIFlags(t, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.args, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "two words") || strings.Contains(err.Error(), "with spaces") {
			t.Errorf("%q: the error shows the token: %v", c.args, err)
		}
	}
}

func TestHTTPLimitFlags(t *testing.T) {
	af, err := parseAPIFlags(t, []string{"--http-read-header-timeout", "2s", "--http-write-timeout", "1m", "--http-max-header-bytes", "16KiB"},
		"COUNTER_HTTP_IDLE_TIMEOUT", "30s")
	if err != nil {
		t.Fatal(err)
	}
	if l := af.limits; l.ReadHeaderTimeout != 2*time.Second || l.WriteTimeout != time.Minute || l.IdleTimeout != 30*time.Second ||
		l.ReadTimeout != 30*time.Second || l.MaxHeaderBytes != 16<<10 {
		t.Errorf("%+v", l)
	}
	for _, args := range [][]string{
		{"--http-read-timeout", "0s"},
		{"--http-idle-timeout", "-1s"},
		{"--http-max-header-bytes", "100"},
		{"--http-max-header-bytes", "1GiB"},
	} {
		if _, err := parseAPIFlags(t, args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestLikeRateLimitFlags(t *testing.T) {
	af, err := parseAPIFlags(t, []string{"--like-rate-limit", "2.5", "--like-rate-burst", "20", "--trusted-proxies", "10.0.0.0/8, 192.168.1.10,2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	l := af.likeLimit
	if l.Rate != 2.5 || l.Burst != 20 || len(l.TrustedProxies) != 3 || l.TrustedProxies[1].String() != "192.168.1.10/32" {
		t.Errorf("%+v", l)
	}
	for _, args := range [][]string{
		{"--like-rate-limit", "-1"},
		{"--like-rate-limit", "NaN"},
		{"--like-rate-burst", "-3"},
		{"--trusted-proxies", "10.0.0.0/33"},
		{"--trusted-proxies", "proxy.example.com"},
	} {
		if _, err := parseAPIFlags(t, args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestCORSOriginsFlag(t *testing.T) {
	if _, err := parseAPIFlags(t, []string{"--cors-origins", "https://app.example.com,http://localhost:5173"}); err != nil {
		t.Error(err)
	}
	_, err := parseAPIFlags(t, []string{"--cors-origins", "https://*.example.com"})
	if err == nil || !strings.Contains(err.Error(), "--cors-origins") {
		t.Errorf("a wildcard origin: %v", err)
	}
}
