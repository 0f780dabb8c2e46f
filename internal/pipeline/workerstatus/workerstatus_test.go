package workerstatus

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncodeParseRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 1, 21, 30, 0, 123_000_000, time.UTC)
	for _, s := range []Status{
		{Worker: "w1", Ready: true, At: at},
		{Worker: "dev-0", Restoring: []Restore{{Partition: 3, Restored: 42, Total: 100}, {Partition: 5, Total: 0}}, At: at},
	} {
		key, value, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(key) != s.Worker {
			t.Errorf("key %q, want %q", key, s.Worker)
		}
		got, err := Parse(key, value)
		if err != nil {
			t.Fatalf("Parse(%s): %v", value, err)
		}
		s.Version = Version
		if s.Restoring == nil {
			s.Restoring = []Restore{}
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip of %s: %+v, want %+v", value, got, s)
		}
	}
	_, value, _ := Encode(Status{Worker: "w1", Restoring: []Restore{{Partition: 3, Restored: 42, Total: 100}}, At: at})
	if want := `{"v":1,"worker":"w1","ready":false,"restoring":[{"partition":3,"restored":42,"total":100}],"at":"2026-12-01T21:30:00.123Z"}`; string(value) != want {
		t.Errorf("encoded %s\nwant    %s", value, want)
	}
}

func TestParseRefusesWhatNoWorkerWrites(t *testing.T) {
	big := `{"v":1,"worker":"w","at":"2026-12-01T21:30:00Z","pad":"` + strings.Repeat("x", MaxValueBytes) + `"}`
	for _, c := range []struct{ key, value, want string }{
		{"w", "", "not a status"},
		{"w", "null", "version 0"},
		{"w", "[1,2]", "not a status"},
		{"w", `{"worker":"w","at":"2026-12-01T21:30:00Z"}`, "version 0"},
		{"w", `{"v":1,"worker":"x","at":"2026-12-01T21:30:00Z"}`, `worker "x" under key "w"`},
		{"", `{"v":1,"worker":"","at":"2026-12-01T21:30:00Z"}`, "worker id"},
		{"w", `{"v":1,"worker":"w"}`, "no time"},
		{"w", `{"v":1,"worker":"w","at":"yesterday"}`, "not a status"},
		{"w", `{"v":1,"worker":"w","at":"2026-12-01T21:30:00Z","restoring":[{"partition":1,"restored":5,"total":4}]}`, "restored 5 of 4"},
		{"w", `{"v":1,"worker":"w","at":"2026-12-01T21:30:00Z","restoring":[{"partition":-1,"restored":0,"total":4}]}`, "partition -1"},
		{"w", big, "over"},
	} {
		if _, err := Parse([]byte(c.key), []byte(c.value)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %.80q): %v, want an error with %q", c.key, c.value, err, c.want)
		}
	}
	if _, err := Parse([]byte("w"), nil); err == nil {
		t.Error("a tombstone parsed")
	}
	// A later version with more fields is read.
	s, err := Parse([]byte("w"), []byte(`{"v":2,"worker":"w","ready":true,"at":"2026-12-01T21:30:00Z","standbys":[1,2]}`))
	if err != nil || !s.Ready || s.Restoring == nil {
		t.Errorf("version 2: %+v, %v", s, err)
	}
}

func TestEncodeRefusesABadStatus(t *testing.T) {
	for _, s := range []Status{
		{At: time.Now()},
		{Worker: "w"},
		{Worker: "w", At: time.Now(), Restoring: []Restore{{Partition: 1, Restored: 2, Total: 1}}},
	} {
		if _, _, err := Encode(s); err == nil {
			t.Errorf("Encode(%+v) took it", s)
		}
	}
}

func TestFresh(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{now, true},
		{now.Add(-MaxAge), true},
		{now.Add(-MaxAge - time.Millisecond), false},
		{now.Add(MaxAge + time.Millisecond), false},
		{time.Time{}, false},
	} {
		if got := (Status{At: c.at}).Fresh(now); got != c.want {
			t.Errorf("written %v before now: fresh %v, want %v", now.Sub(c.at), got, c.want)
		}
	}
	if f := (Restore{Restored: 42, Total: 100}).Fraction(); f != 0.42 {
		t.Errorf("fraction %v", f)
	}
	if f := (Restore{}).Fraction(); f != 1 {
		t.Errorf("fraction of nothing to replay %v", f)
	}
}

// FuzzParse: no input panics Parse, and whatever it accepts encodes back
// to a record it parses the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte("w1"), []byte(`{"v":1,"worker":"w1","ready":false,"restoring":[{"partition":3,"restored":42,"total":100}],"at":"2026-12-01T21:30:00.123Z"}`))
	f.Add([]byte("w"), []byte(`{"v":1,"worker":"w","ready":true,"restoring":null,"at":"2026-12-01T21:30:00Z"}`))
	f.Add([]byte("w"), []byte(`{"v":1e9,"worker":"w","at":"0001-01-01T00:00:01Z","restoring":[{}]}`))
	f.Add([]byte(""), []byte(`{}`))
	f.Add([]byte("w"), []byte(`not json`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s, err := Parse(key, value)
		if err != nil {
			return
		}
		k, v, err := Encode(s)
		if err != nil {
			t.Fatalf("parsed %+v from %q, but it does not encode: %v", s, value, err)
		}
		again, err := Parse(k, v)
		if err != nil {
			t.Fatalf("re-encoded %s does not parse: %v", v, err)
		}
		s.Version = Version
		if !again.At.Equal(s.At) {
			t.Fatalf("time %v became %v", s.At, again.At)
		}
		again.At = s.At
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("%+v became %+v", s, again)
		}
	})
}
