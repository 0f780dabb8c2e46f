package api

import (
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// likeFrom posts likes from the client at addr ("ip:port"); extra headers
// in pairs.
func (f *fixture) likeFrom(addr, body string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", likesPath, nil)
	if body != "" {
		r = httptest.NewRequest("POST", likesPath, strings.NewReader(body))
	}
	r.RemoteAddr = addr
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	return w
}

// A client gets Burst likes at once, then Rate a second; each client has
// its own bucket; {"count": n} costs n; 429 carries Retry-After.
func TestLikeRateLimit(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	f := newFixture(t, Config{LikeLimit: LikeLimit{Rate: 2, Burst: 5, Now: clock.Now}})
	const a, b = "198.51.100.7:4000", "198.51.100.8:4000"
	for i := range 5 {
		if w := f.likeFrom(a, ""); w.Code != 200 {
			t.Fatalf("like %d of the burst: %d %s", i, w.Code, w.Body)
		}
	}
	w := f.likeFrom(a, "")
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || decode(t, w)["error"] == "" {
		t.Fatalf("like over the burst: %d %v %s, want 429 with Retry-After 1", w.Code, w.Header(), w.Body)
	}
	if w := f.likeFrom(b, `{"count":5}`); w.Code != 200 {
		t.Fatalf("another client: %d %s", w.Code, w.Body)
	}
	clock.advance(500 * time.Millisecond) // one like back
	if w := f.likeFrom(a, ""); w.Code != 200 {
		t.Fatalf("after 0.5s at 2/s: %d %s", w.Code, w.Body)
	}
	w = f.likeFrom(a, `{"count":4}`)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("4 likes with an empty bucket: %d Retry-After %q, want 429 and 2", w.Code, w.Header().Get("Retry-After"))
	}
	clock.advance(2 * time.Second)
	if w := f.likeFrom(a, `{"count":4}`); w.Code != 200 {
		t.Fatalf("4 likes after 2s: %d %s", w.Code, w.Body)
	}
	// More likes than the burst pass with a full bucket, leaving a debt.
	clock.advance(time.Hour)
	if w := f.likeFrom(a, `{"count":25}`); w.Code != 200 {
		t.Fatalf("25 likes with a full bucket of 5: %d %s", w.Code, w.Body)
	}
	clock.advance(10 * time.Second) // 20 likes: the debt is paid, the bucket empty
	w = f.likeFrom(a, "")
	if w.Code != 429 {
		t.Fatalf("a like 10s after 25 at 2/s: %d, want 429", w.Code)
	}
	if got := f.srv.limiter.clients(); got != 1 {
		t.Errorf("%d buckets, want 1 (b's refilled an hour ago: dropped)", got)
	}
	if v := counterValue(t, f.reg, "counter_api_rejected_total", map[string]string{"reason": "rate_limited"}); v != 3 {
		t.Errorf("rejected{rate_limited} = %v, want 3", v)
	}
}

// Buckets are bounded: idle clients' buckets go once they refilled, and
// beyond MaxClients the least recently seen goes.
func TestLikeRateLimitMemoryIsBounded(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	l := newLimiter(LikeLimit{Rate: 1, Burst: 2, MaxClients: 3, Now: clock.Now})
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	for i := range 10 {
		if ok, _ := l.take(addr(i), 1); !ok {
			t.Fatalf("client %d refused", i)
		}
		if n := l.clients(); n > 3 {
			t.Fatalf("%d buckets, MaxClients 3", n)
		}
	}
	// Client 9 is still held: its bucket is not refilled.
	l.take(addr(9), 1)
	if ok, _ := l.take(addr(9), 1); ok {
		t.Error("client 9 got a third like at once: its bucket was dropped")
	}
	clock.advance(2 * time.Second) // every bucket has refilled
	l.take(addr(100), 1)
	if n := l.clients(); n != 1 {
		t.Errorf("%d buckets after every other client went idle, want 1", n)
	}
	// 10 000 clients, 100 000 buckets at most: memory does not follow the
	// number of clients seen.
	l = newLimiter(LikeLimit{Rate: 1, MaxClients: 100, Now: clock.Now})
	for i := range 10_000 {
		l.take(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 1)
	}
	if n := l.clients(); n != 100 {
		t.Errorf("%d buckets, want 100", n)
	}
}

// Behind a trusted proxy the client is the last untrusted hop of
// X-Forwarded-For; from anywhere else, X-Forwarded-For is ignored.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	cases := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"198.51.100.7:1234", nil, "198.51.100.7"},
		{"198.51.100.7:1234", []string{"203.0.113.9"}, "198.51.100.7"}, // untrusted peer: a forged header
		{"10.1.2.3:1234", nil, "10.1.2.3"},
		{"10.1.2.3:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"10.1.2.3:1234", []string{"1.1.1.1, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"}, // 1.1.1.1 is the client's claim
		{"10.1.2.3:1234", []string{"1.1.1.1", "203.0.113.9:5555"}, "203.0.113.9"},
		{"10.1.2.3:1234", []string{"10.2.2.2, 10.3.3.3"}, "10.2.2.2"},
		{"10.1.2.3:1234", []string{"203.0.113.9, garbage"}, "10.1.2.3"},
		{"[2001:db8:ffff::1]:1234", []string{"[2001:db8:1:2::5]:80"}, "2001:db8:1:2::5"},
		{"[::ffff:10.1.2.3]:1234", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", likesPath, nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, trusted); got.String() != c.want {
			t.Errorf("%s %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	r := httptest.NewRequest("POST", likesPath, nil)
	r.RemoteAddr = "[2001:db8:1:2:aaaa::1]:1"
	if got := clientKey(r, nil).String(); got != "2001:db8:1:2::" {
		t.Errorf("IPv6 key %s, want its /64", got)
	}
}

// Behind a trusted proxy, each forwarded client has its own bucket.
func TestLikeRateLimitBehindAProxy(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	f := newFixture(t, Config{LikeLimit: LikeLimit{Rate: 1, Burst: 1, Now: clock.Now,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	for i := range 3 {
		client := "203.0.113." + strconv.Itoa(i)
		if w := f.likeFrom("127.0.0.1:999", "", "X-Forwarded-For", client); w.Code != 200 {
			t.Fatalf("first like of %s: %d", client, w.Code)
		}
		if w := f.likeFrom("127.0.0.1:999", "", "X-Forwarded-For", client); w.Code != 429 {
			t.Fatalf("second like of %s: %d, want 429", client, w.Code)
		}
	}
}
