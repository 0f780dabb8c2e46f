package catalog

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTitleLen bounds a video title, in characters.
const MaxTitleLen = 200

// Errors of catalog operations.
var (
	// ErrBadTitle is wrapped by the errors of NormalizeTitle.
	ErrBadTitle = errors.New("invalid title")
	// ErrConflict is wrapped by errors of adding a video that conflict with
	// the catalog's state (it is full, an idempotency key was reused).
	ErrConflict = errors.New("conflict with the catalog")
)

// NormalizeTitle checks a title given by a client and returns it with the
// surrounding white space removed. A title is 1 to MaxTitleLen characters of
// valid UTF-8 without control characters.
func NormalizeTitle(title string) (string, error) {
	if !utf8.ValidString(title) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrBadTitle)
	}
	title = strings.TrimSpace(title)
	n := utf8.RuneCountInString(title)
	if n == 0 || n > MaxTitleLen {
		return "", fmt.Errorf("%w: must be 1 to %d characters", ErrBadTitle, MaxTitleLen)
	}
	for _, r := range title {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%w: control characters are not allowed", ErrBadTitle)
		}
	}
	return title, nil
}
