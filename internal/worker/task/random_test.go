package task

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// The randomized model test: a seeded driver interleaves input (likes,
// idempotent retries, likes from the re-key stage, marks of several
// sources, some going back), transactions that commit or abort, revocations
// and reassignments (restoring from the owner's store or, as a new owner
// does, from the changelog) and crashes at any point. After every step it
// checks that the committed outputs and the committed changelog equal what
// the model computes from the committed input.
//
// COUNTER_MODEL_CASES sets the number of cases, COUNTER_MODEL_SEED replays
// one (a failure prints its seed and the steps that led to it).

func modelCases(t *testing.T) (first uint64, n int) {
	if s := os.Getenv("COUNTER_MODEL_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COUNTER_MODEL_SEED=%q: %v", s, err)
		}
		return seed, 1
	}
	n = 10000
	if raceEnabled {
		n = 1000 // the race detector makes each case ~10x slower; `make model` runs the full count
	}
	if s := os.Getenv("COUNTER_MODEL_CASES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("COUNTER_MODEL_CASES=%q: want a positive number", s)
		}
	}
	return 1, n
}

func TestModelRandom(t *testing.T) {
	first, n := modelCases(t)
	start := time.Now()
	steps := 0
	for seed := first; seed < first+uint64(n); seed++ {
		s := newSim(seed, false)
		err := s.run()
		steps += s.steps
		if err != nil {
			s = newSim(seed, true)
			if again := s.run(); again == nil || again.Error() != err.Error() {
				t.Errorf("seed %d did not fail the same way when replayed: %v, then %v", seed, err, again)
			}
			t.Fatalf("seed %d: %v\n\nlast steps:\n%s\n\nreplay: COUNTER_MODEL_SEED=%d go test -run TestModelRandom -v ./internal/worker/task",
				seed, err, strings.Join(s.lastSteps(60), "\n"), seed)
		}
	}
	t.Logf("%d cases, %d steps, in %v", n, steps, time.Since(start).Round(time.Millisecond))
}

// sim drives one task against the model.
type sim struct {
	rng     *rand.Rand
	cfg     Config
	sources int32
	videos  int

	log     []entry // the partition: committed input, then input not yet committed
	pos     int     // committed position
	read    int     // next entry the open transaction reads
	forward []entry // likes the open transaction sends back through the topic

	task  *Task     // nil while the partition is not assigned
	local *memState // the owner's store; nil once lost (crash, or another owner)

	changelog []clRecord        // committed
	compacted map[clKey]clValue // the latest value of each key of changelog
	finals    map[string]uint64

	model *model
	et    int64   // event-time cursor
	srcWM []int64 // last watermark each source sent

	steps   int
	tracing bool
	trace   []string
}

func newSim(seed uint64, tracing bool) *sim {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sizeSets := [][]int64{{1000}, {1000, 3000}, {2000, 4000, 6000}, {1000, 5000}, {3000}}
	var sizes []window.Size
	for _, ms := range sizeSets[rng.IntN(len(sizeSets))] {
		sizes = append(sizes, window.NewSize(ms))
	}
	pol, err := window.NewPolicy(sizes, time.Duration(rng.IntN(4)*250)*time.Millisecond, time.Duration(rng.IntN(3)*2000)*time.Millisecond)
	if err != nil {
		panic(err)
	}
	cfg := Config{Policy: pol, IdempotencyWindow: int64(2000 + rng.IntN(20000))}
	s := &sim{rng: rng, cfg: cfg, sources: int32(1 + rng.IntN(3)), videos: 1 + rng.IntN(6),
		tracing: tracing, local: newMemState(), compacted: map[clKey]clValue{}, finals: map[string]uint64{}, model: newModel(pol, cfg.IdempotencyWindow)}
	// Event times start anywhere, before the epoch too.
	s.et = int64(rng.IntN(4_000_000)) - 2_000_000
	s.srcWM = make([]int64, s.sources)
	for i := range s.srcWM {
		s.srcWM[i] = s.et - 1000
	}
	s.note("config sizes=%v grace=%d retention=%d idempotency=%d sources=%d", pol.Labels(), pol.Grace, pol.Retention, cfg.IdempotencyWindow, s.sources)
	return s
}

// note records a step, when tracing: a failing case is run again with
// tracing on to show its steps (the cases are deterministic).
func (s *sim) note(format string, args ...any) {
	if s.tracing {
		s.trace = append(s.trace, fmt.Sprintf(format, args...))
	}
}

func (s *sim) lastSteps(n int) []string {
	if len(s.trace) <= n {
		return s.trace
	}
	return append([]string{s.trace[0], "..."}, s.trace[len(s.trace)-n:]...)
}

func (s *sim) run() error {
	ops := 20 + s.rng.IntN(120)
	for i := 0; i < ops; i++ {
		s.steps++
		var err error
		switch r := s.rng.IntN(100); {
		case r < 35:
			s.input(1 + s.rng.IntN(6))
		case r < 60:
			err = s.process(1 + s.rng.IntN(8))
		case r < 78:
			err = s.commit()
		case r < 86:
			err = s.abort()
		case r < 92:
			s.crash()
		default:
			s.revoke()
		}
		if err != nil {
			return err
		}
	}
	// The end: every source moves far ahead; every window closes and
	// expires, every final is out.
	far := s.et + s.cfg.Policy.Largest() + s.cfg.Policy.Grace + s.cfg.Policy.Retention + s.cfg.IdempotencyWindow + 10000
	for src := int32(0); src < s.sources; src++ {
		s.log = append(s.log, entry{kind: 'm', mark: watermark.Mark{Source: src, Sources: s.sources, Watermark: far}})
	}
	for s.pos < len(s.log) {
		if err := s.process(len(s.log)); err != nil {
			return err
		}
		if err := s.commit(); err != nil {
			return err
		}
	}
	if len(s.model.counts) != 0 {
		return fmt.Errorf("windows left in the model after the end: %v", s.model.counts)
	}
	return nil
}

// input appends n entries to the partition.
func (s *sim) input(n int) {
	for range n {
		r := s.rng.IntN(100)
		if r == 0 && s.sources < 4 && s.rng.IntN(4) == 0 {
			// A partition added to the ingestion topic: a new source,
			// which holds the watermark until it reports.
			s.sources++
			s.srcWM = append(s.srcWM, s.et-1000)
			continue
		}
		if r < 22 {
			src := int32(s.rng.IntN(int(s.sources)))
			wm := s.srcWM[src] + int64(s.rng.IntN(1500))
			if s.rng.IntN(10) == 0 {
				wm = s.srcWM[src] - int64(s.rng.IntN(2000)) // a mark going back: ignored
			} else {
				s.srcWM[src] = wm
			}
			s.log = append(s.log, entry{kind: 'm', mark: watermark.Mark{Source: src, Sources: s.sources, Watermark: wm}})
			continue
		}
		e := entry{kind: 'l', video: "v" + strconv.Itoa(s.rng.IntN(s.videos)), n: uint64(1 + s.rng.IntN(3)),
			ts: s.et - int64(s.rng.IntN(4000)) + 1000}
		switch {
		case r < 40:
			e.key, e.seq, e.n = "k"+strconv.Itoa(s.rng.IntN(3)), s.rng.IntN(12), 1
		case r < 52:
			e.kind = 'h'
		}
		s.log = append(s.log, e)
		s.et += int64(s.rng.IntN(400))
	}
	s.note("input %d (log %d, committed %d)", n, len(s.log), s.pos)
}

// assign gives the partition an owner: from its own store, or from the
// changelog as a new owner rebuilds it.
func (s *sim) assign() error {
	how := "own store"
	if s.local == nil || s.rng.IntN(2) == 0 {
		s.local, how = stateFromCompacted(s.compacted), "changelog"
	}
	s.task = New(7, s.cfg, s.local, s.local.restored())
	s.read, s.forward = s.pos, nil
	s.note("assign from %s: %v", how, s.task)
	if s.task.Watermark() != s.model.wm {
		return fmt.Errorf("restored watermark %d, model %d", s.task.Watermark(), s.model.wm)
	}
	if s.task.Keys() != s.model.keys() {
		return fmt.Errorf("restored %d counts, model %d", s.task.Keys(), s.model.keys())
	}
	return nil
}

// process reads up to n entries in the open transaction.
func (s *sim) process(n int) error {
	if s.task == nil {
		if err := s.assign(); err != nil {
			return err
		}
	}
	for ; n > 0 && s.read < len(s.log); n-- {
		e := s.log[s.read]
		s.read++
		switch e.kind {
		case 'm':
			s.task.Mark(e.mark)
		case 'l':
			l := Like{Video: []byte(e.video), N: e.n, Time: e.ts}
			if e.key != "" {
				l.Key, l.Seq = []byte(e.key), e.seq
			}
			if _, err := s.task.Like(l); err != nil {
				return err
			}
		case 'h':
			counted, err := s.task.CountHere([]byte(e.video), e.n, e.ts)
			if err != nil {
				return err
			}
			if !counted {
				s.forward = append(s.forward, entry{kind: 'l', video: e.video, n: e.n, ts: e.ts})
			}
		}
		s.note("read %s", e)
	}
	return nil
}

// commit ends the open transaction with a commit and checks the result.
func (s *sim) commit() error {
	if s.task == nil {
		return nil
	}
	now := s.et + int64(s.rng.IntN(5000)) - 2000
	rec := &recorder{}
	if err := s.task.Finish(now, rec); err != nil {
		return err
	}
	c := s.task.Commit()
	s.local.apply(c)
	s.changelog = append(s.changelog, rec.changelog...)
	for _, r := range rec.changelog {
		if r.gone {
			delete(s.compacted, r.key)
		} else {
			s.compacted[r.key] = r.val
		}
	}
	s.model.transaction(s.log[s.pos:s.read])
	s.note("commit now=%d: entries %d..%d, %d outputs, %d changelog records; model watermark %d", now, s.pos, s.read, len(rec.outputs), len(rec.changelog), s.model.wm)
	s.pos = s.read
	s.log = append(s.log, s.forward...) // sent in the transaction: visible once it commits
	s.forward = nil
	for _, o := range rec.outputs {
		if o.final {
			k := finalKey(o.win, o.id)
			if prev, dup := s.finals[k]; dup {
				return fmt.Errorf("a second final for %s: %d after %d", k, o.count, prev)
			}
			s.finals[k] = o.count
			continue
		}
		if s.model.closedAt(o.win, s.model.wm) {
			return fmt.Errorf("running count %s of a window the watermark %d closed", o, s.model.wm)
		}
		if want := s.model.counts[o.win][o.id]; o.count != want {
			return fmt.Errorf("running count %s, model %d", o, want)
		}
	}
	if !maps.Equal(s.finals, s.model.finals) {
		return fmt.Errorf("finals differ from the model:\n%s\nthis transaction's finals per the model: %v", mapDiff(s.finals, s.model.finals), s.model.lastFinals)
	}
	got, want := s.compacted, s.model.changelog()
	if !maps.EqualFunc(got, want, clEqual) {
		return fmt.Errorf("changelog differs from the model:\n%s", clDiff(got, want))
	}
	if s.task.Watermark() != s.model.wm {
		return fmt.Errorf("watermark %d, model %d", s.task.Watermark(), s.model.wm)
	}
	return nil
}

// abort ends the open transaction with an abort, after Finish or not (the
// worker can fail before or after it).
func (s *sim) abort() error {
	if s.task == nil {
		return nil
	}
	if s.rng.IntN(2) == 0 {
		if err := s.task.Finish(s.et, &recorder{}); err != nil {
			return err
		}
	}
	s.task.Abort()
	s.read, s.forward = s.pos, nil
	s.note("abort")
	return nil
}

// crash loses the owner with its open transaction and its store.
func (s *sim) crash() {
	s.task, s.local = nil, nil
	s.read, s.forward = s.pos, nil
	s.note("crash")
}

// revoke takes the partition away; the owner keeps its store, or another
// worker gets the partition (and has only the changelog).
func (s *sim) revoke() {
	if s.task != nil {
		s.task.Abort()
	}
	s.task = nil
	if s.rng.IntN(2) == 0 {
		s.local = nil
	}
	s.read, s.forward = s.pos, nil
	s.note("revoke")
}

func mapDiff(got, want map[string]uint64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			fmt.Fprintf(&b, "  %s: got %d (present %v), want %d\n", k, g, ok, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  %s: got %d, want none\n", k, got[k])
		}
	}
	return b.String()
}

func clDiff(got, want map[clKey]clValue) string {
	var b strings.Builder
	for _, k := range slices.SortedFunc(maps.Keys(want), compareKeys) {
		if g, ok := got[k]; !ok || !clEqual(g, want[k]) {
			fmt.Fprintf(&b, "  want %s", describe(clRecord{key: k, val: want[k]}))
			if ok {
				fmt.Fprintf(&b, ", got %s", describe(clRecord{key: k, val: g}))
			}
			b.WriteString("\n")
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(got), compareKeys) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  unexpected %s\n", describe(clRecord{key: k, val: got[k]}))
		}
	}
	return b.String()
}

func compareKeys(a, b clKey) int { return strings.Compare(a.String(), b.String()) }

func clEqual(a, b clValue) bool {
	return a.count == b.count && a.keys == b.keys && a.mark == b.mark &&
		a.dedup.First == b.dedup.First && bytes.Equal(a.dedup.Seen, b.dedup.Seen)
}
