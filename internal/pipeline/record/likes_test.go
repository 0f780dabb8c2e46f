package record

import (
	"strconv"
	"testing"
)

func TestParseLikes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1", 1, true},
		{"42", 42, true},
		{"1099511627776", MaxLikes, true},
		{"1099511627777", 0, false},
		{"", 0, false},
		{"0", 0, false},
		{"07", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{" 1", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := ParseLikes([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLikes(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseLikes(f *testing.F) {
	for _, s := range []string{"1", "100", "0", "", "-5", "1099511627776", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseLikes(b)
		if err != nil {
			return
		}
		if n < 1 || n > MaxLikes {
			t.Fatalf("ParseLikes(%q) = %d out of range", b, n)
		}
		if s := string(AppendLikes(nil, n)); s != string(b) {
			t.Fatalf("ParseLikes(%q) = %d, which formats as %q", b, n, s)
		}
		if v, _ := strconv.ParseUint(string(b), 10, 64); v != n {
			t.Fatalf("ParseLikes(%q) = %d, strconv says %d", b, n, v)
		}
	})
}
