package task

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Hand-written cases of the core, one scenario per file in testdata/. Each
// file is a list of commands, one per line; a command followed by a line
// "----" has its output checked against the lines after it, up to the next
// blank line. '#' starts a comment line. COUNTER_REWRITE=1 rewrites the
// expected outputs with what the core does (review the diff!).
//
//	config sizes=1s,3s grace=250ms retention=4s idempotency=10s
//	like <video> t=<ms> [n=<likes>] [key=<idempotency key> seq=<index>]
//	                                    -> counted | duplicate | late <sizes>
//	here <video> t=<ms> [n=<likes>]     -> counted | declined (from the re-key stage)
//	mark <source>/<sources> <watermark ms>
//	finish now=<ms>                     -> the effects, sorted
//	commit                              -> applies the transaction to the store
//	abort
//	crash                               -> a new owner rebuilds the store from the changelog
//	state                               -> the committed state the task and the store hold
func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runFile(t, f) })
	}
}

// ddCase is the state of one file's run.
type ddCase struct {
	cfg       Config
	store     *memState
	task      *Task
	changelog []clRecord
	rec       *recorder
}

func runFile(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var out []string // the file as rewritten with actual outputs
	c := &ddCase{}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		out = append(out, lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		got, err := c.run(line)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, i+1, line, err)
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "----" {
			continue
		}
		i++
		var want []string
		for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
			i++
			want = append(want, strings.TrimSpace(lines[i]))
		}
		out = append(out, "----")
		out = append(out, got...)
		if !slices.Equal(got, want) && os.Getenv("COUNTER_REWRITE") == "" {
			t.Errorf("%s:%d: %s\ngot:\n  %s\nwant:\n  %s", path, i+1, line, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	if os.Getenv("COUNTER_REWRITE") != "" {
		if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// run executes one command and returns its output.
func (c *ddCase) run(line string) ([]string, error) {
	f := strings.Fields(line)
	args := map[string]string{}
	var pos []string
	for _, a := range f[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			args[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	if f[0] != "config" && c.task == nil {
		return nil, fmt.Errorf("no config yet")
	}
	switch f[0] {
	case "config":
		return nil, c.config(args)
	case "like", "here":
		if len(pos) != 1 {
			return nil, fmt.Errorf("want one video")
		}
		ts, err := strconv.ParseInt(args["t"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("t: %w", err)
		}
		n := uint64(1)
		if s, ok := args["n"]; ok {
			if n, err = strconv.ParseUint(s, 10, 64); err != nil {
				return nil, err
			}
		}
		if f[0] == "here" {
			counted, err := c.task.CountHere([]byte(pos[0]), n, ts)
			if counted {
				return []string{"counted"}, err
			}
			return []string{"declined"}, err
		}
		l := Like{Video: []byte(pos[0]), N: n, Time: ts}
		if k, ok := args["key"]; ok {
			l.Key = []byte(k)
			if l.Seq, err = strconv.Atoi(args["seq"]); err != nil {
				return nil, fmt.Errorf("seq: %w", err)
			}
		}
		v, err := c.task.Like(l)
		switch {
		case v.Duplicate:
			return []string{"duplicate"}, err
		case len(v.Late) > 0:
			var labels []string
			for _, s := range v.Late {
				labels = append(labels, s.Label)
			}
			return []string{"late " + strings.Join(labels, ",")}, err
		}
		return []string{"counted"}, err
	case "mark":
		var m watermark.Mark
		if len(pos) != 2 {
			return nil, fmt.Errorf("want mark <source>/<sources> <watermark>")
		}
		if _, err := fmt.Sscanf(pos[0], "%d/%d", &m.Source, &m.Sources); err != nil {
			return nil, err
		}
		var err error
		if m.Watermark, err = strconv.ParseInt(pos[1], 10, 64); err != nil {
			return nil, err
		}
		c.task.Mark(m)
		return nil, nil
	case "finish":
		now, err := strconv.ParseInt(args["now"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("now: %w", err)
		}
		c.rec = &recorder{}
		if err := c.task.Finish(now, c.rec); err != nil {
			return nil, err
		}
		return c.rec.lines(), nil
	case "commit":
		if c.rec == nil && c.task.Open() {
			return nil, fmt.Errorf("commit without finish")
		}
		c.store.apply(c.task.Commit())
		if c.rec != nil {
			c.changelog = append(c.changelog, c.rec.changelog...)
		}
		c.rec = nil
		return nil, nil
	case "abort":
		c.task.Abort()
		c.rec = nil
		return nil, nil
	case "crash":
		c.store = stateFromCompacted(compact(c.changelog))
		c.task = New(0, c.cfg, c.store, c.store.restored())
		c.rec = nil
		return nil, nil
	case "state":
		return c.describe(), nil
	}
	return nil, fmt.Errorf("unknown command %q", f[0])
}

func (c *ddCase) config(args map[string]string) error {
	sizes, err := window.ParseSizes(strings.Split(args["sizes"], ","))
	if err != nil {
		return err
	}
	dur := func(name string) (time.Duration, error) {
		if s, ok := args[name]; ok {
			return time.ParseDuration(s)
		}
		return 0, nil
	}
	grace, err := dur("grace")
	if err != nil {
		return err
	}
	retention, err := dur("retention")
	if err != nil {
		return err
	}
	idem, err := dur("idempotency")
	if err != nil {
		return err
	}
	pol, err := window.NewPolicy(sizes, grace, retention)
	if err != nil {
		return err
	}
	c.cfg = Config{Policy: pol, IdempotencyWindow: max(idem, time.Second).Milliseconds()}
	c.store = newMemState()
	c.task = New(0, c.cfg, c.store, c.store.restored())
	return nil
}

// describe lists the committed state: the task's watermark and counts, and
// the store's counts and idempotency records.
func (c *ddCase) describe() []string {
	wm := "none"
	if w := c.task.Watermark(); w != -1<<63 {
		wm = strconv.FormatInt(w, 10)
	}
	out := []string{fmt.Sprintf("watermark %s, %d counts", wm, c.task.Keys())}
	for _, win := range slices.SortedFunc(maps.Keys(c.store.counts), compareWindows) {
		for _, id := range slices.Sorted(maps.Keys(c.store.counts[win])) {
			out = append(out, fmt.Sprintf("count %s %s = %d", winString(win), id, c.store.counts[win][id]))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.store.dedup)) {
		d := c.store.dedup[id]
		out = append(out, fmt.Sprintf("idempotency %s first %d seen %x", strings.ReplaceAll(id, "\x00", "/"), d.First, d.Seen))
	}
	return out
}
