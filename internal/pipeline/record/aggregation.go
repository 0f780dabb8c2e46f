// Package record defines the formats the pipeline writes to Kafka: output
// aggregations, watermark marks in the partitioned topic, and dead-letter
// headers. Pure code, no I/O.
package record

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Aggregation is one output record: the cumulative count of one video in one
// window. The first three fields are those of the original system.
type Aggregation struct {
	Type        string    `json:"type"`
	VideoUID    string    `json:"video_uid"`
	Count       uint64    `json:"count"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Final       bool      `json:"final"`
}

// AppendAggregation appends the JSON of an aggregation to dst. It writes the
// JSON by hand because it runs once per output record; label and id need no
// escaping (labels are generated, ids are validated to [A-Za-z0-9._:-]).
func AppendAggregation(dst []byte, label, id string, count uint64, startMs, endMs int64, final bool) []byte {
	return AppendAggregationWith(dst, label, id, count, AppendBounds(nil, startMs, endMs), final)
}

// AppendBounds appends the window bounds part of an aggregation,
// `"window_start":"…","window_end":"…"`, for AppendAggregationWith: a worker
// formats it once per window rather than once per record.
func AppendBounds(dst []byte, startMs, endMs int64) []byte {
	dst = append(dst, `"window_start":"`...)
	dst = AppendTime(dst, startMs)
	dst = append(dst, `","window_end":"`...)
	dst = AppendTime(dst, endMs)
	return append(dst, '"')
}

// AppendAggregationWith is AppendAggregation with the bounds preformatted by
// AppendBounds. The id must be a valid video id (see
// package videoid), which needs no JSON escaping; label likewise.
func AppendAggregationWith(dst []byte, label, id string, count uint64, bounds []byte, final bool) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, label...)
	dst = append(dst, `","video_uid":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","count":`...)
	dst = strconv.AppendUint(dst, count, 10)
	dst = append(dst, ',')
	dst = append(dst, bounds...)
	dst = append(dst, `,"final":`...)
	dst = strconv.AppendBool(dst, final)
	return append(dst, '}')
}

// AppendTime appends a Unix-millisecond time in RFC 3339 UTC, with
// milliseconds only when they are not zero.
func AppendTime(dst []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(dst, time.RFC3339Nano)
}

// ParseAggregation decodes an output record value.
func ParseAggregation(b []byte) (Aggregation, error) {
	var a Aggregation
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("bad aggregation record: %w", err)
	}
	if a.VideoUID == "" || a.Type == "" {
		return a, fmt.Errorf("bad aggregation record: missing type or video_uid")
	}
	return a, nil
}
