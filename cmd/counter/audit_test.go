package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/apinode/audit"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
)

// counter audit prints each drifting window and exits 1; a range without
// drift exits 0.
func TestAuditCommand(t *testing.T) {
	brokers := testkit.StartBroker(t)
	p := testkit.Policy(t, time.Second, "2s")
	testkit.EnsureTopics(t, brokers, p, 1)
	at := time.Date(2020, 1, 1, 0, 0, 0, 500e6, time.UTC)
	out := topics.Output(window.NewSize(2000))
	final := func(video string, n uint64) *kgo.Record {
		return &kgo.Record{Topic: out, Key: []byte(video), Value: record.AppendAggregation(nil, "2s", video, n, at.UnixMilli()-500, at.UnixMilli()+1500, true)}
	}
	testkit.NewProducer(t, brokers).Send(testkit.Like("v", at), testkit.Like("w", at), final("v", 1), final("w", 2))

	args := []string{"--brokers", strings.Join(brokers, ","), "--windows", "2s", "--grace", "1s", "--catch-up-timeout", "0"}
	var stdout, stderr bytes.Buffer
	err := auditCommand(context.Background(), args, &stdout, &stderr)
	text := stdout.String() + stderr.String()
	if err == nil || errors.As(err, new(cli.UsageError)) || !strings.Contains(err.Error(), "drift in 1 of 2 windows") {
		t.Errorf("error %v with a drift, want a failure (exit 1):\n%s", err, text)
	}
	for _, want := range []string{"windows checked: 2, matching: 1, drifting: 1",
		"drift: video w, 2s window 2020-01-01T00:00:00Z to 2020-01-01T00:00:02Z: expected 1, counted 2 (wrong_count)"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	// Before the window closed (end + grace = 00:00:03), nothing to check.
	stdout.Reset()
	err = auditCommand(context.Background(), append(args, "--json", "--to", "2020-01-01T00:00:02.999Z"), &stdout, &stderr)
	var res audit.Result
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil || err != nil || res.Checked != 0 || res.Input.Finals != 2 {
		t.Errorf("error %v, result %+v (%v):\n%s", err, res, jerr, stdout.String())
	}
}
