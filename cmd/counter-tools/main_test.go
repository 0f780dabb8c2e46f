package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/counter-dev/counter/internal/testkit"
)

// binary is a counter executable built for the scenarios that run workers
// as processes.
var binary string

func TestMain(m *testing.M) { testkit.MainWithCounter(m, "../counter", &binary) }

// The README or BENCHMARKS.md documents every flag of every tool.
func TestDocsListEveryFlag(t *testing.T) {
	var docs []byte
	for _, name := range []string{"../../README.md", "../../BENCHMARKS.md"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b...)
	}
	check := func(args ...string) {
		var out bytes.Buffer
		if code := run(context.Background(), append(args, "-h"), &out, &out); code != 0 {
			t.Fatalf("%v -h: exit %d", args, code)
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if !strings.HasPrefix(line, "  --") {
				continue
			}
			flag := strings.Fields(line)[0]
			if !bytes.Contains(docs, []byte("`"+flag+"`")) {
				t.Errorf("neither README nor BENCHMARKS.md documents %s of counter-tools %s", flag, strings.Join(args, " "))
			}
		}
	}
	check("load")
	for _, s := range benchScenarios() {
		check("bench", s.name)
	}
}
