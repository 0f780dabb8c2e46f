package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeTitle(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"Cats", "Cats", true},
		{"  Dogs at play \n", "Dogs at play", true},
		{"Café — été", "Café — été", true},
		{strings.Repeat("é", MaxTitleLen), strings.Repeat("é", MaxTitleLen), true},
		{strings.Repeat("x", MaxTitleLen+1), "", false},
		{"", "", false},
		{"   ", "", false},
		{"bell\a", "", false},
		{"tab\tinside", "", false},
		{"bad \xff utf8", "", false},
	} {
		got, err := NormalizeTitle(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("NormalizeTitle(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBadTitle) {
			t.Errorf("error %v does not wrap ErrBadTitle", err)
		}
	}
}
