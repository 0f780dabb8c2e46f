package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/counter-dev/counter/internal/apinode/ingest"
)

// statusClientClosed is logged and counted when the client went away before
// its likes were sent (nginx's convention; the client never sees it).
const statusClientClosed = 499

// postLikes records the likes of one request and answers 200 only once the
// sink accepted all of them.
func (s *Server) postLikes(w http.ResponseWriter, r *http.Request) {
	if !s.checkStage(w, r) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	id := r.PathValue("video_id") // URL-decoded
	n, bad := parseLike(id, body)
	if bad != nil {
		s.metrics.reject(bad.reason)
		writeError(w, http.StatusBadRequest, bad.msg, string(bad.idWhy))
		return
	}
	key, bad := parseIdempotencyKey(r.Header.Values("Idempotency-Key"))
	if bad != nil {
		s.metrics.reject(bad.reason)
		writeError(w, http.StatusBadRequest, bad.msg, "")
		return
	}
	if s.limiter != nil {
		if ok, wait := s.limiter.take(clientKey(r, s.trusted), n); !ok {
			s.metrics.reject(reasonRateLimited)
			w.Header().Set("Retry-After", strconv.FormatInt(retryAfter(wait), 10))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many likes from this client: at most %g a second; retry later", s.limiter.rate), "")
			return
		}
	}
	if key != "" {
		if first, same := s.keys.claim(id, key, n); !same {
			s.metrics.reject(reasonKeyReused)
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Idempotency-Key %q was first used for another request to this video "+
				"(count %d, this one %d): a retry must repeat the original request, a new request needs a new key", key, first, n), "")
			return
		}
	}
	now := time.Now().Truncate(time.Millisecond) // Kafka timestamps are in ms
	if err := s.sink.Send(r.Context(), ingest.Likes{VideoID: id, Count: n, Time: now, IdempotencyKey: key}); err != nil {
		s.sinkFailed(w, r, id, err)
		return
	}
	s.metrics.accepted.Add(float64(n))
	writeAccepted(w, id, n, now)
}

// readBody reads the request body, answering 413 or 400 if it cannot.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength == 0 {
		return nil, true
	}
	if r.ContentLength > s.maxBody {
		s.tooLarge(w)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.tooLarge(w)
		return nil, false
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.metrics.reject(reasonTimeout)
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, "the body did not arrive in time", "")
		return nil, false
	case err != nil:
		s.metrics.reject(reasonBadBody)
		writeError(w, http.StatusBadRequest, "cannot read body: "+err.Error(), "")
		return nil, false
	}
	return body, true
}

func (s *Server) tooLarge(w http.ResponseWriter) {
	s.metrics.reject(reasonTooLarge)
	writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(s.maxBody, 10)+" bytes", "")
}

// sinkFailed answers a request whose likes the sink did not accept.
func (s *Server) sinkFailed(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, ingest.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		s.metrics.reject(reasonUnavailable)
		if s.logGate.open() {
			s.log.Warn("api: likes refused, broker unavailable (logged at most every 10s)", "video_id", id, "err", err)
		}
		msg := err.Error()
		if prefix := ingest.ErrUnavailable.Error(); !strings.HasPrefix(msg, prefix) {
			msg = prefix + ": " + msg
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, msg, "")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		s.metrics.reject(reasonCanceled)
		writeError(w, statusClientClosed, "request canceled", "")
	default:
		s.metrics.reject(reasonInternal)
		if s.logGate.open() {
			s.log.Error("api: likes refused by the sink (logged at most every 10s)", "video_id", id, "err", err)
		}
		writeError(w, http.StatusInternalServerError, "internal error", "")
	}
}

// EventTimeHeader carries, in a 200 answer to a like request, the likes'
// event time (RFC 3339, milliseconds), which decides their windows. It is a
// header so that the body of a retried idempotent request is the same as
// the original's.
const EventTimeHeader = "Counter-Event-Time"

// writeAccepted answers {"video_id": id, "accepted": n}, the event time ts
// in EventTimeHeader. id is a valid video identifier, so it needs no JSON
// escaping.
func writeAccepted(w http.ResponseWriter, id string, n int, ts time.Time) {
	var buf [len("2006-01-02T15:04:05.000Z")]byte
	w.Header()[EventTimeHeader] = []string{string(appendEventTime(buf[:0], ts))} // canonical key
	b := make([]byte, 0, 64+len(id))
	b = append(b, `{"video_id":"`...)
	b = append(b, id...)
	b = append(b, `","accepted":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "}\n"...)
	writeJSON(w, http.StatusOK, b)
}

// appendEventTime appends ts in UTC as time.RFC3339Nano formats it, such as
// 2026-11-26T10:07:00.12Z (trailing zeros of the fraction dropped, no
// fraction for a whole second), for times in whole milliseconds between the
// years 0 and 9999 without time.Time.AppendFormat's cost; other times it
// formats with AppendFormat.
func appendEventTime(dst []byte, ts time.Time) []byte {
	ts = ts.UTC()
	year, month, day := ts.Date()
	nanos := ts.Nanosecond()
	if year < 0 || year > 9999 || nanos%int(time.Millisecond) != 0 {
		return ts.AppendFormat(dst, time.RFC3339Nano)
	}
	hour, minute, sec := ts.Clock()
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	if ms := nanos / int(time.Millisecond); ms != 0 {
		dst = append(dst, '.')
		digits := 3
		for ms%10 == 0 {
			ms /= 10
			digits--
		}
		dst = appendDigits(dst, ms, digits)
	}
	return append(dst, 'Z')
}

// appendDigits appends v, 0 <= v < 10^width, in exactly width decimal
// digits (leading zeros).
func appendDigits(dst []byte, v, width int) []byte {
	start := len(dst)
	for range width {
		dst = append(dst, '0')
	}
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}

// gate opens at most once per period, to keep logs readable when every
// request fails the same way.
type gate struct {
	every time.Duration
	next  atomic.Int64 // unix nanoseconds when the gate opens again
}

func (g *gate) open() bool {
	now := time.Now().UnixNano()
	next := g.next.Load()
	return now >= next && g.next.CompareAndSwap(next, now+int64(g.every))
}
