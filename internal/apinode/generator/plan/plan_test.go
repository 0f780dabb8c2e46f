package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	ten := "[1,2,3,4,5,6,7,8,9,10]"
	ok, err := ParseRequest([]byte(`{"videos":{"b":` + ten + `,"a":[0,0,0,0,0,0,0,0,0,1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ok.Videos) != 2 || ok.Videos[0].ID != "a" || ok.Videos[1].Likes[9] != 10 {
		t.Fatalf("parsed %+v", ok)
	}
	many := map[string][]int{}
	for i := range MaxVideos + 1 {
		many[fmt.Sprint("v", i)] = make([]int, Steps)
	}
	tooMany, _ := json.Marshal(map[string]any{"videos": many})
	for _, c := range []struct{ body, want string }{
		{``, "body must be"},
		{`[]`, "body must be"},
		{`{"videos":{}}`, "1 to 200 videos"},
		{`{"videos":{"a":` + ten + `},"extra":1}`, "unknown field"},
		{`{"videos":{"a":` + ten + `}} {}`, "unexpected data"},
		{`{"videos":{"bad id":` + ten + `}}`, "video \"bad id\""},
		{`{"videos":{"a":[1,2,3]}}`, "array of 10 integers"},
		{`{"videos":{"a":[1,2,3,4,5,6,7,8,9,1.5]}}`, "array of 10 integers"},
		{`{"videos":{"a":[1,2,3,4,5,6,7,8,9,-1]}}`, "step 10: -1 likes"},
		{`{"videos":{"a":[1,2,3,4,5,6,7,8,9,10001]}}`, "10001 likes"},
		{`{"videos":{"a":[0,0,0,0,0,0,0,0,0,0]}}`, "no likes"},
		{string(tooMany), "got 201"},
	} {
		_, err := ParseRequest([]byte(c.body))
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRequest(%.60s) = %v, want %q", c.body, err, c.want)
		}
	}
}

func TestRunSchedule(t *testing.T) {
	req := Request{Videos: []VideoLikes{{"a", []int{10, 0, 3, 1, 1, 1, 1, 1, 1, 25}}, {"b", []int{7, 7, 7, 7, 7, 7, 7, 7, 7, 7}}}}
	r := NewRun("r1", req, 1000, 11_345)
	if r.StartMs != 13_000 || r.EndMs() != 23_000 || r.CreatedMs != 11_345 {
		t.Fatalf("run %+v", r)
	}
	if NewRun("x", req, 1000, 12_000).StartMs != 14_000 {
		t.Fatal("a request on a boundary starts at the next one after the lead")
	}
	if NewRun("x", req, 60_000, 59_500).StartMs != 120_000 || NewRun("x", req, 60_000, 58_000).StartMs != 60_000 {
		t.Fatal("one-minute steps")
	}
	if SlicesPerStep(1000) != 10 || SlicesPerStep(60_000) != 60 || SlicesPerStep(50) != 1 || SlicesPerStep(600_000) != 60 {
		t.Fatal("SlicesPerStep")
	}
	if r.Slices() != 100 {
		t.Fatalf("slices %d", r.Slices())
	}
	// Every slice of a step lies inside the step (one window), and the
	// likes of each step add up.
	for v := range r.Videos {
		perStep := make([]int, Steps)
		for j := range r.Slices() {
			at := r.SliceMs(j)
			if at < r.StartMs+int64(r.Step(j))*1000 || at >= r.StepEndMs(j) {
				t.Fatalf("slice %d at %d outside step %d", j, at, r.Step(j))
			}
			perStep[r.Step(j)] += r.SliceLikes(j, v)
		}
		if fmt.Sprint(perStep) != fmt.Sprint(r.Videos[v].Likes) {
			t.Fatalf("video %d: %v, want %v", v, perStep, r.Videos[v].Likes)
		}
	}
	// 3 likes over 10 slices are spread out, not bunched.
	var spread []int
	for j := 20; j < 30; j++ {
		spread = append(spread, r.SliceLikes(j, 0))
	}
	if fmt.Sprint(spread) != "[0 0 0 1 0 0 1 0 0 1]" {
		t.Fatalf("spread %v", spread)
	}
	if r.Total() != 44+70 {
		t.Fatalf("total %d", r.Total())
	}
	sum := 0
	for j := 0; j <= r.Slices(); j++ {
		if got := r.LikesBefore(j); got != sum {
			t.Fatalf("LikesBefore(%d) = %d, want %d", j, got, sum)
		}
		if j < r.Slices() {
			sum += r.SliceTotal(j)
		}
	}
	if r.IdempotencyKey(7) != "gen-r1-7" {
		t.Fatal(r.IdempotencyKey(7))
	}
}

func put(t *testing.T, s *State, key string, v any) bool {
	t.Helper()
	b, _ := json.Marshal(v)
	changed, err := s.Apply(key, b)
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

func TestStateMachine(t *testing.T) {
	var s State
	req := Request{Videos: []VideoLikes{{"a", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}}}
	r1 := NewRun("r1", req, 1000, 9_500) // 11 000 .. 21 000
	if !put(t, &s, RunKey("r1"), r1) {
		t.Fatal("first run not accepted")
	}
	if st := s.Current().Status(10_600); st.State != StateScheduled || st.LikesTotal != 10 || st.Start != "1970-01-01T00:00:11Z" {
		t.Fatalf("status %+v", st)
	}
	// A second request while r1 is active is rejected, on every instance.
	r2 := NewRun("r2", req, 1000, 11_000)
	if put(t, &s, RunKey("r2"), r2) {
		t.Fatal("second run accepted while the first is active")
	}
	if acc, seen := s.Verdict("r2"); acc || !seen {
		t.Fatal("verdict of r2")
	}
	if acc, _ := s.Verdict("r1"); !acc {
		t.Fatal("verdict of r1")
	}
	// Progress: monotonic, for the current run only.
	if !put(t, &s, ProgressKey("r1"), Progress{Next: 25, Runner: "api-1"}) {
		t.Fatal("progress")
	}
	if put(t, &s, ProgressKey("r1"), Progress{Next: 20, Runner: "old"}) || put(t, &s, ProgressKey("r2"), Progress{Next: 50}) {
		t.Fatal("older progress or another run's progress applied")
	}
	st := s.Current().Status(13_600)
	if st.State != StateRunning || st.StepsDone != 2 || st.LikesSent != 2 || st.Runner != "api-1" {
		t.Fatalf("running status %+v", st)
	}
	// Cancel: then a new run is accepted.
	if put(t, &s, CancelKey("r2"), Cancel{AtMs: 14_000}) {
		t.Fatal("cancel of a run that is not current")
	}
	if !put(t, &s, CancelKey("r1"), Cancel{AtMs: 14_000}) || s.Current().Status(14_000).State != StateCanceled {
		t.Fatal("cancel")
	}
	r3 := NewRun("r3", req, 1000, 13_100)
	if !put(t, &s, RunKey("r3"), r3) || s.Current().Run.ID != "r3" {
		t.Fatal("run after cancel not accepted")
	}
	if put(t, &s, RunKey("r3"), r3) {
		t.Fatal("a duplicate request changed the state")
	}
	// Done when every slice is through; skipped likes are not sent.
	put(t, &s, ProgressKey("r3"), Progress{Next: 100, Skipped: 3})
	if st := s.Current().Status(30_000); st.State != StateDone || st.LikesSent != 7 || st.StepsDone != 10 {
		t.Fatalf("done status %+v", st)
	}
	r4 := NewRun("r4", req, 1000, 30_000)
	if !put(t, &s, RunKey("r4"), r4) {
		t.Fatal("run after done not accepted")
	}
	// A run nobody ran stops blocking a step after its end, and shows
	// expired.
	if s.Current().Status(r4.EndMs()+1000).State != StateExpired {
		t.Fatal("expired")
	}
	if !put(t, &s, RunKey("r5"), NewRun("r5", req, 1000, r4.EndMs()+1000)) {
		t.Fatal("run after an expired one not accepted")
	}
	// Junk and tombstones change nothing; bad values are errors.
	if c, err := s.Apply("other", []byte("x")); c || err != nil {
		t.Fatal("unknown key")
	}
	if c, err := s.Apply(RunKey("r9"), nil); c || err != nil {
		t.Fatal("tombstone")
	}
	for _, k := range []string{RunKey("r9"), CancelKey("r5"), ProgressKey("r5")} {
		if _, err := s.Apply(k, []byte("{bad")); err == nil {
			t.Fatalf("bad value of %s accepted", k)
		}
	}
	if _, err := s.Apply(RunKey("r9"), []byte(`{"id":"other","step_ms":1000,"videos":[{"id":"a","likes":[1]}]}`)); err == nil {
		t.Fatal("a run whose id is not its key")
	}
}

func TestVerdictsBounded(t *testing.T) {
	var s State
	req := Request{Videos: []VideoLikes{{"a", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}}}
	for i := range maxVerdicts + 10 {
		put(t, &s, RunKey(fmt.Sprint("r", i)), NewRun(fmt.Sprint("r", i), req, 1000, 0))
	}
	if len(s.verdicts) != maxVerdicts || len(s.order) != maxVerdicts {
		t.Fatalf("%d verdicts", len(s.verdicts))
	}
	if _, seen := s.Verdict("r0"); seen {
		t.Fatal("oldest verdict kept")
	}
}
