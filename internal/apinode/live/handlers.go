package live

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/counter-dev/counter/internal/socketio"
)

// The handlers of the client events: register_room, unregister_room and
// the consume events.

func (h *Hub) client(c *socketio.Conn) *client {
	h.clientsMu.Lock()
	defer h.clientsMu.Unlock()
	return h.clients[c]
}

// refuse tells the client why its event was refused, by an error event and,
// when it asked for one, by the acknowledgement.
func (h *Hub) refuse(c *socketio.Conn, event, reason string, err error) []any {
	h.m.refused.WithLabelValues(reason).Inc()
	msg := err.Error()
	_ = c.Emit(EventError, map[string]string{"event": event, "error": msg})
	return []any{map[string]string{"error": msg}}
}

// roomsAck acknowledges with the videos the client registered.
func roomsAck(cl *client) []any {
	rooms := slices.Clone(cl.videos)
	slices.Sort(rooms)
	return []any{map[string][]string{"rooms": rooms}}
}

// join makes c receive stream st of size index i for video. The caller
// holds pushMu.
func (h *Hub) join(c *socketio.Conn, st stream, i int, video string) error {
	if err := c.Join(roomOf(st, h.sizes[i].Label, video)); err != nil {
		return err
	}
	if st == original {
		h.sent.join(i, video, c)
	}
	return nil
}

// leave stops what join started, for every stream and size. The caller
// holds pushMu.
func (h *Hub) leave(c *socketio.Conn, video string) {
	for i, s := range h.sizes {
		for st := range numStreams {
			c.Leave(roomOf(st, s.Label, video))
		}
		h.sent.leave(i, video, c)
	}
}

func (h *Hub) onRegister(c *socketio.Conn, args []json.RawMessage) []any {
	cl := h.client(c)
	if cl == nil {
		return nil
	}
	ids, err := parseRooms(args, h.cfg.MaxVideos)
	if err != nil {
		return h.refuse(c, EventRegister, reasonBadPayload, err)
	}
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	var added []string
	for _, id := range ids {
		if !slices.Contains(cl.videos, id) {
			added = append(added, id)
		}
	}
	if len(cl.videos)+len(added) > h.cfg.MaxVideos {
		return h.refuse(c, EventRegister, reasonTooManyRooms,
			errTooMany(len(cl.videos)+len(added), h.cfg.MaxVideos))
	}
	for _, id := range added {
		for st := range numStreams {
			for i := range h.sizes {
				if !cl.consumed[st][i] {
					continue
				}
				if err := h.join(c, st, i, id); err != nil {
					return h.refuse(c, EventRegister, reasonTooManyRooms, err)
				}
			}
		}
		cl.videos = append(cl.videos, id)
	}
	now := time.Now()
	for st := range numStreams {
		for i := range h.sizes {
			if cl.consumed[st][i] {
				h.snapshot(c, st, i, ids, now)
			}
		}
	}
	return roomsAck(cl)
}

func (h *Hub) onUnregister(c *socketio.Conn, args []json.RawMessage) []any {
	cl := h.client(c)
	if cl == nil {
		return nil
	}
	ids, err := parseRooms(args, h.cfg.MaxVideos)
	if err != nil {
		return h.refuse(c, EventUnregister, reasonBadPayload, err)
	}
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	for _, id := range ids {
		if i := slices.Index(cl.videos, id); i >= 0 {
			cl.videos = slices.Delete(cl.videos, i, i+1)
			h.leave(c, id)
		}
	}
	return roomsAck(cl)
}

// onConsume returns the handler of the consume event of stream st and size
// index i. Its payload ({} in the original) is ignored.
func (h *Hub) onConsume(st stream, i int) func(*socketio.Conn, []json.RawMessage) []any {
	event := ConsumeEvent(h.sizes[i])
	if st == windows {
		event = ConsumeWindowsEvent(h.sizes[i])
	}
	return func(c *socketio.Conn, _ []json.RawMessage) []any {
		cl := h.client(c)
		if cl == nil {
			return nil
		}
		h.pushMu.Lock()
		defer h.pushMu.Unlock()
		if !cl.consumed[st][i] {
			for _, id := range cl.videos {
				if err := h.join(c, st, i, id); err != nil {
					return h.refuse(c, event, reasonTooManyRooms, err)
				}
			}
			cl.consumed[st][i] = true
		}
		h.snapshot(c, st, i, cl.videos, time.Now())
		return []any{map[string]string{"window": h.sizes[i].Label}}
	}
}
