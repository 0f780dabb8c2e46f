package live

import (
	"encoding/json"
	"time"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/socketio"
)

// What is sent to the clients, and the rule of the original events: per
// client and (video, size), the window of the events never goes back.

// becomeReady marks the view complete and sends every client registered
// meanwhile its snapshots. The changes noted before are dropped: the
// snapshots read the view, which holds them.
func (h *Hub) becomeReady() {
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	if h.ready {
		return
	}
	h.pending.take(nil)
	h.ready = true
	h.clientsMu.Lock()
	clients := make(map[*socketio.Conn]*client, len(h.clients))
	for c, cl := range h.clients {
		clients[c] = cl
	}
	h.clientsMu.Unlock()
	now := time.Now()
	for c, cl := range clients {
		for st := range numStreams {
			for i := range h.sizes {
				if cl.consumed[st][i] {
					h.snapshot(c, st, i, cl.videos, now)
				}
			}
		}
	}
}

// flush pushes the latest count of every changed key to its rooms.
func (h *Hub) flush(keys []view.Change) {
	var payload []byte
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	for _, k := range keys {
		label := h.sizes[k.Size].Label
		wroom := roomOf(windows, label, k.Video)
		recipients := h.sent.of(k.Size, k.Video)
		if len(recipients) == 0 && h.srv.RoomSize(wroom) == 0 {
			continue
		}
		c, ok := h.view.Get(k.Size, k.Video, k.Start)
		if !ok {
			continue // pruned meanwhile
		}
		payload = appendCount(payload[:0], k.Video, c)
		h.pushOriginal(k, recipients, payload)
		h.broadcast(wroom, h.windows[k.Size], payload)
	}
}

// pushOriginal sends the count of k (payload) as the original event to
// the recipients of its video and size that were sent no newer window, and
// notes that they were sent k's window.
func (h *Hub) pushOriginal(k view.Change, recipients map[*socketio.Conn]int64, payload []byte) {
	ahead := 0
	for _, w := range recipients {
		if w > k.Start {
			ahead++
		}
	}
	if ahead == len(recipients) {
		h.m.heldBack.Add(float64(ahead))
		return
	}
	if ahead == 0 {
		// Everyone: encode once for the room.
		h.broadcast(roomOf(original, h.sizes[k.Size].Label, k.Video), h.events[k.Size], payload)
	} else {
		h.m.heldBack.Add(float64(ahead))
	}
	for c, w := range recipients {
		if w > k.Start {
			continue
		}
		if ahead > 0 {
			if err := c.Emit(h.events[k.Size], json.RawMessage(payload)); err != nil {
				continue // gone or dropped
			}
		}
		recipients[c] = k.Start
	}
}

// broadcast sends payload as event to room, if anyone is in it.
func (h *Hub) broadcast(room, event string, payload []byte) {
	if h.srv.RoomSize(room) == 0 {
		return
	}
	// BroadcastTo encodes a copy, so payload can be reused.
	if err := h.srv.BroadcastTo(room, event, json.RawMessage(payload)); err != nil {
		h.log.Error("live: push failed", "room", room, "err", err)
		return
	}
	h.m.pushes.Inc()
}

// snapshot sends c the counts of stream st of size index i of videos: for
// the original events, the window containing now, or the newer window c was
// already sent; for the window events, the last closed window (if the view
// has one) and the one containing now. It sends nothing before the view is
// complete (becomeReady sends it then). The caller holds pushMu.
func (h *Hub) snapshot(c *socketio.Conn, st stream, i int, videos []string, now time.Time) {
	if !h.ready {
		return
	}
	var payload []byte
	send := func(event, id string, n view.Count) bool {
		payload = appendCount(payload[:0], id, n)
		if err := c.Emit(event, json.RawMessage(payload)); err != nil {
			return false // the client is gone or was dropped
		}
		h.m.snapshots.Inc()
		return true
	}
	for _, id := range videos {
		if st == windows {
			sc := h.view.Counts(id, now)[i]
			if sc.LastClosed != nil && !send(h.windows[i], id, *sc.LastClosed) {
				return
			}
			if !send(h.windows[i], id, sc.Current) {
				return
			}
			continue
		}
		n := h.view.Current(i, id, now)
		if w := h.sent.mark(i, id, c); w > n.Start {
			n, _ = h.view.Get(i, id, w)
		}
		if !send(h.events[i], id, n) {
			return
		}
		h.sent.set(i, id, c, n.Start)
	}
}
