package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/counter-dev/counter/internal/tools/bench"
)

// Every scenario runs in a reduced size. The scenarios check their own
// results (every like counted, every changelog record restored, every
// acknowledged like pushed to the Socket.IO client) and fail otherwise; the
// speed is not asserted.
func TestBenchScenarios(t *testing.T) {
	cases := [][]string{
		{"pipeline", "--events", "30000", "--videos", "5000"},
		{"ingest", "--duration", "1s", "--connections", "16", "--videos", "1000"},
		{"restore", "--keys", "100000", "--binary", binary},
		{"memory", "--keys", "100000", "--settle", "200ms", "--binary", binary},
		{"latency", "--duration", "2s", "--rate", "200", "--videos", "20"},
	}
	for _, args := range cases {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			args = append(args, "--runs", "1", "--json", "--log-level", "warn")
			if err := benchCommand(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("counter-tools bench %s: %v\n%s", strings.Join(args, " "), err, errb.String())
			}
			var rep bench.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, out.String())
			}
			if rep.Scenario != args[0] || len(rep.Figures) < 3 {
				t.Fatalf("report %+v", rep)
			}
			baselines := 0
			for _, f := range rep.Figures {
				zeroOK := f.Name == "errors" || strings.Contains(f.Name, "other processes")
				// A difference of two RSS readings: at this reduced size
				// (100K keys, the state on disk) it is noise around zero,
				// of either sign (-22 bytes per key was seen).
				negativeOK := f.Name == "RSS per key above idle"
				if len(f.Runs) != 1 || (f.Median < 0 && !negativeOK) || (f.Median == 0 && !zeroOK) {
					t.Errorf("figure %+v", f)
				}
				if f.IsBaseline {
					baselines++
				}
				if f.Baseline != "" && f.Ratio <= 0 {
					t.Errorf("figure %s has no ratio to %s", f.Name, f.Baseline)
				}
			}
			if baselines == 0 {
				t.Error("no baseline figure")
			}
		})
	}
}

func TestBenchCommandLine(t *testing.T) {
	cases := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"bench"}, 2, "Scenarios:"},
		{[]string{"bench", "-h"}, 0, "restore"},
		{[]string{"bench", "frobnicate"}, 2, `unknown scenario "frobnicate"`},
		{[]string{"bench", "latency", "-h"}, 0, "COUNTER_COMMIT_INTERVAL"},
		{[]string{"bench", "latency", "--rate", "0"}, 2, "rate"},
		{[]string{"bench", "pipeline", "-h"}, 0, "COUNTER_EVENTS"},
		{[]string{"bench", "pipeline", "--runs", "0"}, 2, "runs 0"},
		{[]string{"bench", "ingest", "--distribution", "normal"}, 2, "normal"},
		{[]string{"bench", "memory", "--settle", "-1s"}, 2, "settle"},
		{[]string{"load", "-h"}, 0, "COUNTER_RATE"},
		{[]string{"load", "--target", "ftp"}, 2, "--target"},
		{[]string{"load", "--duration", "0s"}, 2, "--duration"},
		{[]string{"load", "--url", "https://example.com"}, 2, "--url"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb)
			text := out.String() + errb.String()
			if code != c.code || !strings.Contains(text, c.contains) {
				t.Errorf("counter %v: exit %d, want %d; output lacks %q:\n%s", c.args, code, c.code, c.contains, text)
			}
		})
	}
}
