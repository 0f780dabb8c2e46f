package videoid

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		id   string
		want Reason
	}{
		{"93f98662-8907-4f43-bb4c-280501481046", ""},
		{"a", ""},
		{"A.b_c:d-9", ""},
		{strings.Repeat("x", MaxLen), ""},
		{"", ReasonEmpty},
		{strings.Repeat("x", MaxLen+1), ReasonTooLong},
		{"\xff\xfe", ReasonInvalidUTF8},
		{"has space", ReasonBadChars},
		{"slash/", ReasonBadChars},
		{"é", ReasonBadChars},
		{"new\nline", ReasonBadChars},
		{strings.Repeat("\xff", MaxLen+5), ReasonInvalidUTF8},
		{".", ReasonReserved},
		{"..", ReasonReserved},
		{"...", ""},
		{".a", ""},
		{"a..", ""},
	}
	for _, c := range cases {
		err := ValidateString(c.id)
		if got := ReasonOf(err); got != c.want {
			t.Errorf("Validate(%q) reason = %q, want %q (err %v)", c.id, got, c.want, err)
		}
		if (err == nil) != (c.want == "") {
			t.Errorf("Validate(%q) err = %v", c.id, err)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"", "abc", "93f98662-8907-4f43-bb4c-280501481046", "\xff", "a b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, id []byte) {
		err := Validate(id)
		ok := len(id) >= 1 && len(id) <= MaxLen && utf8.Valid(id)
		for _, c := range id {
			ok = ok && allowed(c)
		}
		ok = ok && string(id) != "." && string(id) != ".."
		if (err == nil) != ok {
			t.Fatalf("Validate(%q) = %v, want ok=%v", id, err, ok)
		}
		if err != nil && ReasonOf(err) == "" {
			t.Fatalf("error without reason: %v", err)
		}
	})
}
