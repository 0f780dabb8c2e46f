package api

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

const goodID = "93f98662-8907-4f43-bb4c-280501481046"

func TestParseLikeAccepts(t *testing.T) {
	for body, want := range map[string]int{
		"":                          1,
		" \r\n\t":                   1,
		"{}":                        1,
		` { } `:                     1,
		`{"count":5}`:               5,
		"{\"count\": 1}\n":          1,
		`{"count":10000}`:           10000,
		`{"count":2,"count":3}`:     3, // encoding/json keeps the last
		`{"Count":7}`:               7, // encoding/json matches names case-insensitively
		`{"count":5}` + "\r\n\t \n": 5,
	} {
		n, err := parseLike(goodID, []byte(body))
		if err != nil || n != want {
			t.Errorf("parseLike(%q) = %d, %v; want %d", body, n, err, want)
		}
	}
}

func TestParseLikeRefusesBodies(t *testing.T) {
	for body, wantMsg := range map[string]string{
		`{`:                              "invalid JSON body",
		`{"count":0}`:                    "count must be an integer from 1 to 10000, got 0",
		`{"count":10001}`:                "got 10001",
		`{"count":-1}`:                   "got -1",
		`{"count":1.5}`:                  "got 1.5",
		`{"count":1e3}`:                  "got 1e3",
		`{"count":"5"}`:                  `got "5"`,
		`{"count":null}`:                 "got null",
		`{"count":true}`:                 "got true",
		`{"count":99999999999999999999}`: "got 99999999999999999999",
		`{"count":1,"extra":2}`:          `unknown field "extra"`,
		`{"n":1}`:                        `unknown field "n"`,
		`{"count":1} x`:                  "unexpected data after the object",
		`{"count":1}{"count":1}`:         "unexpected data after the object",
		`[1]`:                            "must be empty or a JSON object",
		`null`:                           "must be empty or a JSON object",
		`5`:                              "must be empty or a JSON object",
		"\x00":                           "must be empty or a JSON object",
	} {
		n, err := parseLike(goodID, []byte(body))
		if err == nil || n != 0 || err.reason != reasonBadBody || !strings.Contains(err.msg, wantMsg) {
			t.Errorf("parseLike(%q) = %d, %v; want a bad_body error containing %q", body, n, err, wantMsg)
		}
	}
}

func TestParseLikeRefusesIDs(t *testing.T) {
	for id, why := range map[string]videoid.Reason{
		"":                       videoid.ReasonEmpty,
		"bad id":                 videoid.ReasonBadChars,
		"a/b":                    videoid.ReasonBadChars,
		"é":                      videoid.ReasonBadChars,
		"\xff":                   videoid.ReasonInvalidUTF8,
		strings.Repeat("a", 129): videoid.ReasonTooLong,
		".":                      videoid.ReasonReserved,
		"..":                     videoid.ReasonReserved,
	} {
		n, err := parseLike(id, []byte(`{"count":5}`))
		if err == nil || n != 0 || err.reason != reasonBadID || err.idWhy != why || !strings.HasPrefix(err.msg, "invalid video id") {
			t.Errorf("parseLike(%q) = %d, %+v; want bad_id/%s", id, n, err, why)
		}
	}
	if n, err := parseLike(strings.Repeat("a", 128), nil); err != nil || n != 1 {
		t.Errorf("128-byte id refused: %v", err)
	}
}

// FuzzParseLike checks that parseLike never panics, accepts only valid ids
// with counts in range, and explains every refusal.
func FuzzParseLike(f *testing.F) {
	for _, seed := range []struct{ id, body string }{
		{goodID, ""}, {goodID, "{}"}, {goodID, `{"count":5}`}, {goodID, `{"count":10001}`},
		{goodID, `{"count":1.5}`}, {goodID, `{"x":1}`}, {goodID, `{"count":1} {}`},
		{"bad id", ""}, {"", "{}"}, {"\xff", `{"count":2}`}, {goodID, ` {"count" : 3 } `},
	} {
		f.Add(seed.id, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		n, err := parseLike(id, body)
		idErr := videoid.ValidateString(id)
		if err != nil {
			if n != 0 || err.msg == "" || (err.reason != reasonBadID && err.reason != reasonBadBody) {
				t.Fatalf("refusal n=%d err=%+v", n, err)
			}
			if (err.reason == reasonBadID) != (idErr != nil) {
				t.Fatalf("reason %s for id %q (id error %v)", err.reason, id, idErr)
			}
			return
		}
		if idErr != nil {
			t.Fatalf("accepted invalid id %q", id)
		}
		if n < 1 || n > MaxCount {
			t.Fatalf("accepted count %d", n)
		}
		// An accepted non-empty body is one JSON object with at most a
		// count field holding n.
		if trimmed := trimJSONSpace(body); len(trimmed) > 0 {
			var m map[string]json.RawMessage
			if e := json.Unmarshal(trimmed, &m); e != nil {
				t.Fatalf("accepted %q, which is not a JSON object: %v", body, e)
			}
			for k, v := range m {
				if !strings.EqualFold(k, "count") {
					t.Fatalf("accepted %q with field %q", body, k)
				}
				if got, e := strconv.Atoi(string(v)); e != nil || got < 1 || got > MaxCount {
					t.Fatalf("accepted %q with count %s", body, v)
				}
			}
		}
	})
}

// FuzzParseLikeCount checks the count bounds exactly.
func FuzzParseLikeCount(f *testing.F) {
	for _, c := range []int64{-1, 0, 1, 2, 9999, 10000, 10001, 1 << 40} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c int64) {
		n, err := parseLike(goodID, []byte(`{"count":`+strconv.FormatInt(c, 10)+`}`))
		inRange := c >= 1 && c <= MaxCount
		if inRange != (err == nil) || inRange && int64(n) != c {
			t.Fatalf("count %d: n=%d err=%v", c, n, err)
		}
	})
}
