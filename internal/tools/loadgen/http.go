package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Requests makes the requests of one connection.
type Requests interface {
	// Next appends the next request to dst and returns it with the number
	// of likes it carries (0 for requests that are not likes).
	Next(dst []byte) (req []byte, likes int)
}

// HTTPConfig configures an HTTP load run.
type HTTPConfig struct {
	// Addr is the server's host:port.
	Addr string
	// Connections are kept alive and used in parallel; each has one
	// request in flight at most.
	Connections int
	// Rate is the most requests per second over all connections; 0 sends
	// as fast as the connections allow (closed loop).
	Rate float64
	// Duration bounds the run; MaxRequests, when positive, too.
	Duration    time.Duration
	MaxRequests int64
	// Timeout bounds each request; 10s if zero.
	Timeout time.Duration
	// NewRequests returns the request maker of connection i.
	NewRequests func(i int) Requests
}

// RunHTTP sends requests until the duration or the request count is reached
// or ctx ends, counting into s, and returns the summary. Failed requests are
// counted, not returned: the error is only for an invalid configuration.
func RunHTTP(ctx context.Context, cfg HTTPConfig, s *Stats) (Result, error) {
	if cfg.Connections < 1 || cfg.Duration <= 0 || cfg.NewRequests == nil || cfg.Rate < 0 {
		return Result{}, errors.New("loadgen: need connections, a positive duration, a request maker and a rate >= 0")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	start := time.Now()
	p := newPacer(start, cfg.Rate, cfg.Duration, cfg.MaxRequests)
	var wg sync.WaitGroup
	for i := range cfg.Connections {
		wg.Go(func() {
			conn := &httpConn{addr: cfg.Addr, timeout: cfg.Timeout}
			defer conn.close()
			reqs := cfg.NewRequests(i)
			var buf []byte
			for p.take(ctx) {
				var likes int
				buf, likes = reqs.Next(buf[:0])
				s.Sent.Add(int64(likes))
				sent := time.Now()
				code, err := conn.roundTrip(buf)
				switch {
				case err != nil:
					s.fail(errKind(err))
				case code != 200:
					s.fail("http " + strconv.Itoa(code))
				default:
					s.Latency.Record(time.Since(sent))
					s.Requests.Add(1)
					s.Acked.Add(int64(likes))
				}
			}
		})
	}
	wg.Wait()
	return s.Result(time.Since(start)), nil
}

// errKind names the kind of a request failure for the error counts.
func errKind(err error) string {
	var ne net.Error
	switch {
	case strings.HasPrefix(err.Error(), "connect:"):
		return "connect"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errStatusLine):
		return "protocol"
	}
	return "io"
}

// Target is where HTTP load goes: a base URL such as
// http://localhost:3000/dev, split for the raw client.
type Target struct {
	Addr   string // host:port to connect to
	Host   string // Host header
	Prefix string // path before /videos/..., without a trailing slash
}

// ParseTarget parses a base URL. Only http is supported.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("url %q: %v", raw, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return Target{}, fmt.Errorf("url %q: want http://host[:port][/stage]", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return Target{Addr: addr, Host: u.Host, Prefix: strings.TrimRight(u.EscapedPath(), "/")}, nil
}

// LikeRequests returns request makers for POST {prefix}/videos/{id}/likes
// with ids drawn from ids by dist (each connection seeded differently from
// seed) and, when count > 1, the body {"count":count}.
func LikeRequests(t Target, ids []string, dist Distribution, count int, seed uint64) (func(int) Requests, error) {
	return likeRequestMakers(t, ids, dist, count, seed, false)
}

// IdempotentLikeRequests is LikeRequests with an Idempotency-Key header on
// every request, unique per request: "<seed>-<connection>-<n>".
func IdempotentLikeRequests(t Target, ids []string, dist Distribution, count int, seed uint64) (func(int) Requests, error) {
	return likeRequestMakers(t, ids, dist, count, seed, true)
}

func likeRequestMakers(t Target, ids []string, dist Distribution, count int, seed uint64, idempotent bool) (func(int) Requests, error) {
	if _, err := NewPicker(dist, len(ids), seed); err != nil {
		return nil, err
	}
	head := "POST " + t.Prefix + "/videos/"
	mid := "/likes HTTP/1.1\r\nHost: " + t.Host + "\r\n"
	tail := "Content-Length: 0\r\n\r\n"
	if count > 1 {
		body := `{"count":` + strconv.Itoa(count) + "}"
		tail = "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	return func(i int) Requests {
		p, _ := NewPicker(dist, len(ids), seed+uint64(i)*0x9e3779b97f4a7c15)
		l := &likeRequests{head: head, mid: mid, tail: tail, ids: ids, pick: p, count: max(count, 1)}
		if idempotent {
			l.keyPrefix = "Idempotency-Key: " + strconv.FormatUint(seed, 10) + "-" + strconv.Itoa(i) + "-"
		}
		return l
	}, nil
}

type likeRequests struct {
	head, mid, tail string
	ids             []string
	pick            *Picker
	count           int
	keyPrefix       string // "Idempotency-Key: <seed>-<conn>-" or "" for none
	n               uint64 // requests made, for the keys
}

// Next appends a like request for the next video drawn.
func (l *likeRequests) Next(dst []byte) ([]byte, int) {
	dst = append(dst, l.head...)
	dst = append(dst, l.ids[l.pick.Next()]...)
	dst = append(dst, l.mid...)
	if l.keyPrefix != "" {
		dst = append(dst, l.keyPrefix...)
		dst = strconv.AppendUint(dst, l.n, 10)
		dst = append(dst, "\r\n"...)
		l.n++
	}
	return append(dst, l.tail...), l.count
}

// GetRequests returns request makers for GET path on every connection.
func GetRequests(t Target, path string) func(int) Requests {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + t.Host + "\r\n\r\n")
	return func(int) Requests { return fixedRequest(req) }
}

type fixedRequest []byte

// Next appends the fixed request.
func (f fixedRequest) Next(dst []byte) ([]byte, int) { return append(dst, f...), 0 }
