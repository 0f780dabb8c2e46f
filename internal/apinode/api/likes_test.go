package api

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// appendEventTime writes exactly what time.RFC3339Nano does in UTC.
func TestAppendEventTimeMatchesRFC3339Nano(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0),
		time.Date(2026, 11, 26, 10, 7, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100*1e6, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120*1e6, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 123*1e6, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 1*1e6, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 10*1e6, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999*1e6, time.UTC),
		time.Date(2026, 6, 1, 0, 30, 0, 5*1e6, time.FixedZone("east", 5*3600+1800)), // another zone
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999*1e6, time.UTC),
		// Formatted by AppendFormat: not whole milliseconds, or years
		// without four digits.
		time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
		time.Now().Truncate(time.Millisecond),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		ms := rng.Int64N(400 * 365 * 24 * 3600 * 1000) // 1970 to 2370
		times = append(times, time.UnixMilli(ms))
	}
	for _, ts := range times {
		want := ts.UTC().Format(time.RFC3339Nano)
		if got := string(appendEventTime([]byte("x"), ts)); got != "x"+want {
			t.Fatalf("appendEventTime(%v) = %q, want %q", ts, got, "x"+want)
		}
	}
}

func TestWriteAcceptedEventTime(t *testing.T) {
	ts := time.Date(2026, 11, 26, 10, 7, 0, 120*1e6, time.UTC)
	w := httptest.NewRecorder()
	writeAccepted(w, "my-video", 5, ts)
	if got := w.Header().Get(EventTimeHeader); got != "2026-11-26T10:07:00.12Z" {
		t.Errorf("event time %q", got)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("content type %q", got)
	}
	if got := w.Body.String(); got != `{"video_id":"my-video","accepted":5}`+"\n" {
		t.Errorf("body %q", got)
	}
}

// discardWriter is a ResponseWriter that keeps only its header.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header       { return d.h }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

func BenchmarkWriteAccepted(b *testing.B) {
	ts := time.Now().Truncate(time.Millisecond)
	w := discardWriter{http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		writeAccepted(w, "93f98662-8907-4f43-bb4c-280501481046", 1, ts)
	}
}
