// Package videoid validates video identifiers, the keys the whole pipeline
// counts by. It is pure code: no I/O.
package videoid

import (
	"fmt"
	"unicode/utf8"
)

// MaxLen is the longest accepted identifier, in bytes.
const MaxLen = 128

// Reason names why an identifier was rejected. The values are stable: they
// appear in dead-letter headers, metric labels and HTTP error bodies.
type Reason string

// The reasons an identifier can be rejected.
const (
	ReasonEmpty       Reason = "empty"
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	ReasonTooLong     Reason = "too_long"
	ReasonBadChars    Reason = "bad_chars"
	// ReasonReserved: "." or "..", which are path segments: a URL with them
	// as the id names another resource.
	ReasonReserved Reason = "reserved"
)

// Reasons lists every rejection reason, for pre-registering metric labels.
var Reasons = []Reason{ReasonEmpty, ReasonInvalidUTF8, ReasonTooLong, ReasonBadChars, ReasonReserved}

// Error is returned for an identifier that is not acceptable.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string { return "invalid video id: " + e.Detail }

// Validate reports whether id is 1-128 bytes of [A-Za-z0-9._:-], other than
// "." and "..". The UTF-8 check comes first so that binary garbage gets the
// most useful reason.
func Validate(id []byte) error {
	switch {
	case len(id) == 0:
		return &Error{ReasonEmpty, "empty"}
	case !utf8.Valid(id):
		return &Error{ReasonInvalidUTF8, "not valid UTF-8"}
	case len(id) > MaxLen:
		return &Error{ReasonTooLong, fmt.Sprintf("%d bytes, at most %d allowed", len(id), MaxLen)}
	}
	for i, c := range id {
		if !allowed(c) {
			return &Error{ReasonBadChars, fmt.Sprintf("character %q at byte %d is not one of [A-Za-z0-9._:-]", rune(c), i)}
		}
	}
	if reserved(id) {
		return &Error{ReasonReserved, fmt.Sprintf("%q is a path segment, not an id", id)}
	}
	return nil
}

// ValidateString is Validate for a string.
func ValidateString(id string) error { return Validate([]byte(id)) }

// ReasonOf returns the rejection reason of an error from Validate, or "" for
// any other error.
func ReasonOf(err error) Reason {
	if e, ok := err.(*Error); ok {
		return e.Reason
	}
	return ""
}

// reserved reports whether id is "." or "..".
func reserved(id []byte) bool {
	return len(id) <= 2 && len(id) > 0 && id[0] == '.' && id[len(id)-1] == '.'
}

func allowed(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '-'
}
