package record

import (
	"encoding/json"
	"github.com/counter-dev/counter/internal/pipeline/watermark"
	"strings"
	"testing"
	"time"
)

func TestAggregationRoundTrip(t *testing.T) {
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC).UnixMilli()
	b := AppendAggregation(nil, "1min", "93f98662-8907-4f43-bb4c-280501481046", 12, start, start+60000, true)
	want := `{"type":"1min","video_uid":"93f98662-8907-4f43-bb4c-280501481046","count":12,"window_start":"2026-11-26T10:00:00Z","window_end":"2026-11-26T10:01:00Z","final":true}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	a, err := ParseAggregation(b)
	if err != nil || a.Count != 12 || !a.Final || a.WindowStart.UnixMilli() != start || a.WindowEnd.UnixMilli() != start+60000 {
		t.Fatalf("parse: %+v %v", a, err)
	}
	// The original consumers read only these fields; they must be there.
	var orig map[string]any
	if err := json.Unmarshal(b, &orig); err != nil || orig["type"] != "1min" || orig["count"] != float64(12) {
		t.Fatalf("original fields: %v %v", orig, err)
	}
	ms := AppendAggregation(nil, "1500ms", "x", 1, 1500, 3000, false)
	if a, err := ParseAggregation(ms); err != nil || a.WindowStart.UnixMilli() != 1500 || a.Final {
		t.Fatalf("millisecond window: %s %+v %v", ms, a, err)
	}
}

func TestParseAggregationErrors(t *testing.T) {
	for _, bad := range []string{"", "{", `{"type":"1min"}`, `[1]`} {
		if _, err := ParseAggregation([]byte(bad)); err == nil {
			t.Errorf("ParseAggregation(%q) accepted", bad)
		}
	}
}

func TestMarkRoundTrip(t *testing.T) {
	m := watermark.Mark{Source: 3, Sources: 6, Watermark: 1764115200123}
	got, err := ParseMark(AppendMark(nil, m))
	if err != nil || got != m {
		t.Fatalf("got %+v %v", got, err)
	}
	for _, bad := range []string{"", "1/2", "a/2/3", "2/2/3", "-1/2/3", "0/0/1", "0/1/x", "0/1/2/3"} {
		if _, err := ParseMark([]byte(bad)); err == nil {
			t.Errorf("ParseMark(%q) accepted", bad)
		}
	}
}

func FuzzParseMark(f *testing.F) {
	f.Add([]byte("0/1/5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMark(b)
		if err != nil {
			return
		}
		if m.Source < 0 || m.Source >= m.Sources {
			t.Fatalf("accepted invalid mark %+v", m)
		}
		again, err := ParseMark(AppendMark(nil, m))
		if err != nil || again != m {
			t.Fatalf("round trip of %+v: %+v %v", m, again, err)
		}
	})
}

func TestParseIdempotency(t *testing.T) {
	for _, tc := range []struct {
		key, seq string
		want     int
		ok       bool
	}{
		{"k", "0", 0, true},
		{"order-1", "9999", 9999, true},
		{strings.Repeat("k", MaxIdempotencyKeyLen), "65535", 65535, true},
		{"", "0", 0, false},
		{strings.Repeat("k", MaxIdempotencyKeyLen+1), "0", 0, false},
		{"k", "", 0, false},
		{"k", "65536", 0, false},
		{"k", "-1", 0, false},
		{"k", "1e3", 0, false},
		{"k", "000001", 0, false},
	} {
		got, err := ParseIdempotency([]byte(tc.key), []byte(tc.seq))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseIdempotency(%d-byte key, %q) = %d, %v; want %d, ok %v", len(tc.key), tc.seq, got, err, tc.want, tc.ok)
		}
	}
}
