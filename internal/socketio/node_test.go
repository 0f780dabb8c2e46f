package socketio_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/socketio"
	"github.com/counter-dev/counter/internal/socketio/internal/testapp"
)

// TestNodeClient runs the tests of test/socketio, which use the real npm
// socket.io-client v4, against the test application served here. It skips
// when node is not installed, and runs npm ci first when node_modules is
// missing.
func TestNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the socket.io-client tests in test/socketio need it")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "socketio"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); errors.Is(err, fs.ErrNotExist) {
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}

	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	app := testapp.New(socketio.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 5 * time.Second}, log)
	ts := httptest.NewServer(app.Handler)
	defer ts.Close()
	defer app.Server.Close() // first: it ends pending polls, which ts.Close waits for

	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SOCKETIO_URL="+ts.URL, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", out)
}
