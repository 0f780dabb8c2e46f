package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// likeServer counts the likes it receives per video; /chunked, /close and
// /fail answer in other ways.
type likeServer struct {
	mu    sync.Mutex
	likes map[string]int
}

func (s *likeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/chunked":
		w.Write([]byte("part one "))
		w.(http.Flusher).Flush()
		w.Write([]byte("part two"))
		return
	case "/close":
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
		return
	case "/fail":
		http.Error(w, "no", http.StatusServiceUnavailable)
		return
	}
	var id string
	if _, err := fmt.Sscanf(strings.ReplaceAll(r.URL.Path, "/", " "), " dev videos %s likes", &id); err != nil || r.Method != "POST" {
		http.Error(w, "bad route "+r.URL.Path, http.StatusNotFound)
		return
	}
	n := 1
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		fmt.Sscanf(string(body), `{"count":%d}`, &n)
	}
	s.mu.Lock()
	s.likes[id] += n
	s.mu.Unlock()
	w.Write([]byte(`{"accepted":1}`))
}

func TestRunHTTPLikes(t *testing.T) {
	srv := &likeServer{likes: map[string]int{}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	target, err := ParseTarget(ts.URL + "/dev/")
	if err != nil {
		t.Fatal(err)
	}
	ids := VideoIDs(50)
	reqs, err := LikeRequests(target, ids, Zipf, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	var s Stats
	res, err := RunHTTP(context.Background(), HTTPConfig{Addr: target.Addr, Connections: 4, Duration: 10 * time.Second,
		MaxRequests: 300, NewRequests: reqs}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 300 || res.Acked != 900 || res.Sent != 900 || res.Errors != 0 {
		t.Fatalf("result %+v, want 300 requests of 3 likes", res)
	}
	total := 0
	srv.mu.Lock()
	for _, n := range srv.likes {
		total += n
	}
	srv.mu.Unlock()
	if total != 900 {
		t.Errorf("server got %d likes, want 900", total)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || !strings.Contains(res.Summary(), "acknowledged 900 likes") {
		t.Errorf("latency p50 %v p99 %v; summary %q", res.P50, res.P99, res.Summary())
	}
}

// Chunked answers, Connection: close and error statuses are handled; a
// rate paces the requests.
func TestRunHTTPAnswers(t *testing.T) {
	ts := httptest.NewServer(&likeServer{})
	defer ts.Close()
	target, _ := ParseTarget(ts.URL)
	for _, c := range []struct {
		path      string
		ok, fails bool
	}{{"/chunked", true, false}, {"/close", true, false}, {"/fail", false, true}} {
		var s Stats
		res, err := RunHTTP(context.Background(), HTTPConfig{Addr: target.Addr, Connections: 2, Rate: 100,
			Duration: 300 * time.Millisecond, NewRequests: GetRequests(target, c.path)}, &s)
		if err != nil {
			t.Fatal(err)
		}
		n := res.Requests + res.Errors
		if n < 20 || n > 31 {
			t.Errorf("%s: %d requests in 300ms at 100/s", c.path, n)
		}
		if c.ok && res.Errors != 0 || c.fails && (res.Requests != 0 || res.ErrorKinds["http 503"] != res.Errors) {
			t.Errorf("%s: %+v", c.path, res)
		}
	}
}

func TestRunHTTPConnectError(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	addr := ts.Listener.Addr().String()
	ts.Close()
	var s Stats
	res, _ := RunHTTP(context.Background(), HTTPConfig{Addr: addr, Connections: 1, Duration: time.Second, MaxRequests: 3,
		NewRequests: GetRequests(Target{Addr: addr, Host: addr}, "/")}, &s)
	if res.Errors != 3 || res.ErrorKinds["connect"] != 3 {
		t.Errorf("%+v, want 3 connect errors", res)
	}
}

func TestParseTarget(t *testing.T) {
	got, err := ParseTarget("http://example.com/dev/")
	if err != nil || got != (Target{Addr: "example.com:80", Host: "example.com", Prefix: "/dev"}) {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"https://example.com", "example.com:3000", "http://", "::"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestIdempotentLikeRequestsHaveUniqueKeys(t *testing.T) {
	target := Target{Addr: "x:1", Host: "x:1", Prefix: "/dev"}
	makers, err := IdempotentLikeRequests(target, VideoIDs(5), Uniform, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for conn := range 3 {
		reqs := makers(conn)
		for range 4 {
			req, likes := reqs.Next(nil)
			r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
			if err != nil {
				t.Fatalf("request %q: %v", req, err)
			}
			key := r.Header.Get("Idempotency-Key")
			if likes != 1 || r.Method != "POST" || !strings.HasSuffix(r.URL.Path, "/likes") || key == "" || seen[key] {
				t.Fatalf("request %q: likes %d, key %q (seen before: %v)", req, likes, key, seen[key])
			}
			seen[key] = true
		}
	}
	plain, _ := LikeRequests(target, VideoIDs(5), Uniform, 100, 7)
	req, _ := plain(0).Next(nil)
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
	if err != nil || r.Header.Get("Idempotency-Key") != "" || r.ContentLength != int64(len(`{"count":100}`)) {
		t.Fatalf("plain request %q: %v", req, err)
	}
}
