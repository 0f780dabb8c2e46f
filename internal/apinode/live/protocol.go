package live

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/videoid"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Events of the protocol besides the per-size ones (see ConsumeEvent and
// LiveEvent).
const (
	// EventRegister joins the rooms of videos: {"rooms":["<id>", ...]}.
	EventRegister = "register_room"
	// EventUnregister leaves the rooms of videos: {"rooms":["<id>", ...]}.
	EventUnregister = "unregister_room"
	// EventError tells a client that one of its events was refused:
	// {"event": "<name>", "error": "<why>"}.
	EventError = "live_error"
	// EventGeneratorProgress carries the like generator's status to every
	// client.
	EventGeneratorProgress = "generator_progress"
)

// ConsumeEvent returns the event a client sends to receive the counts of
// window size s: consume_1_min_aggregations for one minute (the original
// names), consume_2s_aggregations for two seconds.
func ConsumeEvent(s window.Size) string {
	if s.Millis%60_000 == 0 {
		return "consume_" + s.TopicSuffix + "_min_aggregations"
	}
	return "consume_" + s.Label + "_aggregations"
}

// LiveEvent returns the original event carrying the counts of window size
// s: live_aggregations_1 for one minute (the original names),
// live_aggregations_2s for two seconds. A client is never sent an older
// window of a video in it after a newer one.
func LiveEvent(s window.Size) string { return "live_aggregations_" + s.TopicSuffix }

// ConsumeWindowsEvent returns the event a client sends to receive the
// window events of size s: consume_windows_1min, consume_windows_2s.
func ConsumeWindowsEvent(s window.Size) string { return "consume_windows_" + s.Label }

// WindowsEvent returns the window event of size s, named by its label
// (live_windows_1min, live_windows_2s): the counts of every window of a
// video, including the final of a window that arrives after the next
// window's first counts.
func WindowsEvent(s window.Size) string { return "live_windows_" + s.Label }

// stream is one of the two kinds of live events of a window size.
type stream int

const (
	// original: LiveEvent, the newest window of each video only.
	original stream = iota
	// windows: WindowsEvent, every window.
	windows
	numStreams
)

// roomOf names the Socket.IO room of the clients that receive the events of
// stream st of video for the size labelled label. Neither labels nor ids
// contain '/'.
func roomOf(st stream, label, video string) string {
	if st == windows {
		return "windows/" + label + "/" + video
	}
	return label + "/" + video
}

// generatorRoom holds every client, for generator progress.
const generatorRoom = "*generator"

// parseRooms decodes the payload of register_room and unregister_room:
// {"rooms": ["<video id>", ...]} with at most max valid ids. Duplicates are
// dropped; the order is kept.
func parseRooms(args []json.RawMessage, max int) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf(`expected {"rooms": ["<video id>", ...]}`)
	}
	var req struct {
		Rooms *[]json.RawMessage `json:"rooms"`
	}
	if err := json.Unmarshal(args[0], &req); err != nil || req.Rooms == nil {
		return nil, fmt.Errorf(`expected {"rooms": ["<video id>", ...]}`)
	}
	if len(*req.Rooms) > max {
		return nil, fmt.Errorf("too many rooms: %d, at most %d", len(*req.Rooms), max)
	}
	ids := make([]string, 0, len(*req.Rooms))
	for _, raw := range *req.Rooms {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, fmt.Errorf("rooms must be video ids (strings), got %s", abbreviate(raw))
		}
		if err := videoid.ValidateString(id); err != nil {
			return nil, fmt.Errorf("room %s: %v", abbreviate([]byte(strconv.Quote(id))), err)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func abbreviate(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// appendCount appends the payload of a live event:
// {"id":…,"count":…,"window_start":…,"window_end":…,"final":…}.
func appendCount(dst []byte, video string, c view.Count) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendQuote(dst, video)
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendUint(dst, c.Count, 10)
	dst = append(dst, `,"window_start":"`...)
	dst = record.AppendTime(dst, c.Start)
	dst = append(dst, `","window_end":"`...)
	dst = record.AppendTime(dst, c.End)
	dst = append(dst, `","final":`...)
	dst = strconv.AppendBool(dst, c.Final)
	return append(dst, '}')
}
