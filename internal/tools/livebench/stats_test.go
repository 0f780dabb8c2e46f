package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	dir := t.TempDir()
	commits := filepath.Join(dir, "c")
	receipts := filepath.Join(dir, "r")
	os.WriteFile(commits, []byte("a 1 1000000\na 2 2000000\nb 1 2000000\n"), 0o644)
	os.WriteFile(receipts, []byte("a 2 7000000\na 2 4000000\nb 1 3000000\nb 9 1\n"), 0o644)
	r, err := report(commits, receipts)
	if err != nil {
		t.Fatal(err)
	}
	if r.records != 3 || r.events != 4 || r.unmatched != 1 || len(r.latencies) != 3 {
		t.Fatalf("%+v", r)
	}
	if percentile(r.latencies, 0) != time.Millisecond || percentile(r.latencies, .5) != 2*time.Millisecond || percentile(r.latencies, 1) != 5*time.Millisecond {
		t.Fatalf("latencies %v", r.latencies)
	}
	var out strings.Builder
	r.wall = time.Second
	r.print(&out, params{clients: 1})
	if !strings.Contains(out.String(), "p50 2ms") {
		t.Fatalf("report:\n%s", out.String())
	}
	if percentile(nil, .5) != 0 {
		t.Fatal("empty")
	}
}
