package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

// MaxCount is the most likes one request may carry.
const MaxCount = 10000

// requestError is a refused like request: answered 400, counted under
// reason.
type requestError struct {
	reason string         // rejection metric label: reasonBadID or reasonBadBody
	idWhy  videoid.Reason // for a bad id, why it was rejected
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// parseLike checks a like request: the video identifier from the path
// (already URL-decoded) and the body. It returns how many likes to record:
// 1 for an empty body or {}, else the body's count, an integer from 1 to
// MaxCount, as in {"count": 5}. Any other request is refused with an error
// saying why.
func parseLike(videoID string, body []byte) (int, *requestError) {
	if err := videoid.ValidateString(videoID); err != nil {
		return 0, &requestError{reason: reasonBadID, idWhy: videoid.ReasonOf(err), msg: err.Error()}
	}
	body = trimJSONSpace(body)
	if len(body) == 0 {
		return 1, nil
	}
	if body[0] != '{' {
		return 0, badBody(`body must be empty or a JSON object such as {"count": 5}`)
	}
	var req struct {
		Count json.RawMessage `json:"count"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return 0, badBody("invalid JSON body: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(trimJSONSpace(body[dec.InputOffset():])) > 0 {
		return 0, badBody("invalid JSON body: unexpected data after the object")
	}
	if req.Count == nil {
		return 1, nil
	}
	n, err := strconv.Atoi(string(req.Count))
	if err != nil || n < 1 || n > MaxCount {
		return 0, badBody(fmt.Sprintf("count must be an integer from 1 to %d, got %s", MaxCount, abbreviate(req.Count)))
	}
	return n, nil
}

func badBody(msg string) *requestError {
	return &requestError{reason: reasonBadBody, msg: msg}
}

// trimJSONSpace removes the whitespace JSON allows around values.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// abbreviate returns b for an error message, shortened if long.
func abbreviate(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// MaxIdempotencyKeyLen bounds the Idempotency-Key header: the workers
// dead-letter likes with longer keys.
const MaxIdempotencyKeyLen = record.MaxIdempotencyKeyLen

// parseIdempotencyKey checks the Idempotency-Key header values: at most one,
// 1 to MaxIdempotencyKeyLen visible ASCII characters. No header gives "".
func parseIdempotencyKey(values []string) (string, *requestError) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", &requestError{reason: reasonBadKey, msg: "more than one Idempotency-Key header"}
	}
	k := values[0]
	if k == "" || len(k) > MaxIdempotencyKeyLen {
		return "", &requestError{reason: reasonBadKey, msg: fmt.Sprintf("Idempotency-Key must be 1 to %d characters", MaxIdempotencyKeyLen)}
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", &requestError{reason: reasonBadKey, msg: "Idempotency-Key must be visible ASCII characters (no spaces)"}
		}
	}
	return k, nil
}
