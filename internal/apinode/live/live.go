// Package live is the Socket.IO application of the API: it pushes the
// counts of the live view (package view) to the clients that asked for
// them, with the events of the original system.
//
// A client registers the videos it shows (register_room {"rooms":[ids]}),
// and the window sizes it wants (consume_1_min_aggregations, ...,
// consume_2s_aggregations for sizes that are not whole minutes). It then
// receives live_aggregations_1 (…_5, …_10, …_2s) events
// {"id","count","window_start","window_end","final"} for those videos and
// sizes only: at once with the current counts when it registers or
// consumes, then whenever a count changes.
//
// Changes are coalesced per (video, size, window): a flush pushes each one
// once with its latest count, and flushes happen at most once per
// FlushInterval, so a hot video cannot flood a client. Each (size, video)
// is a Socket.IO room, so a push is encoded once for all its recipients,
// and the socketio package drops a client whose queue is full rather than
// wait for it.
package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode/view"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/socketio"
)

// Defaults of Config.
const (
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultMaxVideos     = 1000
	// maxPayload bounds a client's message: a register_room of
	// DefaultMaxVideos ids of up to 128 characters fits.
	maxPayload = 256 << 10
)

// Config configures a Hub.
type Config struct {
	// FlushInterval is the shortest time between two pushes of changes;
	// DefaultFlushInterval if zero.
	FlushInterval time.Duration
	// MaxVideos bounds the videos one client may register;
	// DefaultMaxVideos if zero.
	MaxVideos int
	// AllowedOrigins are the browser origins allowed besides the server's
	// own (socketio.Options.AllowedOrigins syntax; "*" allows any).
	AllowedOrigins []string
	// PingInterval and PingTimeout configure the heartbeat (socketio
	// defaults if zero).
	PingInterval, PingTimeout time.Duration
	// Logger receives the logs; slog.Default() if nil.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Hub serves the Socket.IO clients of one API instance. Create it with New,
// mount Handler at Path, feed it with Changed and run Run.
type Hub struct {
	cfg     Config
	srv     *socketio.Server
	view    *view.View
	sizes   []window.Size
	events  []string // live event per size index
	log     *slog.Logger
	m       *metrics
	pending *coalescer

	// pushMu orders what reaches a client: a snapshot (the counts sent
	// when a client registers or consumes) and a flush never interleave,
	// and both read the view when they send, so a client never gets an
	// older count after a newer one.
	pushMu sync.Mutex

	clientsMu sync.Mutex
	clients   map[*socketio.Conn]*client

	generatorMu   sync.Mutex
	lastGenerator json.RawMessage // last generator status, sent to new clients
}

// client is what one connection asked for. Only the connection's own
// callbacks use it, and socketio runs those one at a time.
type client struct {
	videos   []string // registered, in registration order
	consumed []bool   // per size index
}

// New returns a hub pushing the counts of v. It creates the Socket.IO
// server and registers its event handlers.
func New(cfg Config, v *view.View) *Hub {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MaxVideos <= 0 {
		cfg.MaxVideos = DefaultMaxVideos
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sizes := v.Sizes()
	perClient := cfg.MaxVideos * len(sizes)
	h := &Hub{
		cfg:     cfg,
		view:    v,
		sizes:   sizes,
		log:     cfg.Logger.With("component", "live"),
		m:       newMetrics(cfg.Registerer),
		pending: newCoalescer(),
		clients: map[*socketio.Conn]*client{},
	}
	h.srv = socketio.NewServer(socketio.Options{
		PingInterval:    cfg.PingInterval,
		PingTimeout:     cfg.PingTimeout,
		MaxPayload:      maxPayload,
		MaxRoomsPerConn: perClient + 1, // + the generator room
		// A snapshot of every registered video for every size fits.
		SendQueueSize:  perClient + socketio.DefaultSendQueueSize,
		AllowedOrigins: cfg.AllowedOrigins,
		Registerer:     cfg.Registerer,
	}, cfg.Logger.With("component", "socketio"))
	h.srv.OnConnect(h.onConnect)
	h.srv.OnDisconnect(h.onDisconnect)
	h.srv.OnEvent(EventRegister, h.onRegister)
	h.srv.OnEvent(EventUnregister, h.onUnregister)
	for i, s := range sizes {
		h.events = append(h.events, LiveEvent(s))
		h.srv.OnEvent(ConsumeEvent(s), h.onConsume(i))
	}
	return h
}

// Path is where Handler must be mounted: /socket.io/.
func (h *Hub) Path() string { return h.srv.Path() }

// Handler serves the Socket.IO transports.
func (h *Hub) Handler() http.Handler { return h.srv }

// Server returns the Socket.IO server.
func (h *Hub) Server() *socketio.Server { return h.srv }

// Changed tells the hub that counts changed; it pushes them at the next
// flush. It never blocks for long: it only marks keys.
func (h *Hub) Changed(changes []view.Change) { h.pending.add(changes) }

// Run pushes changes until ctx ends: a change after a quiet period is
// pushed at once, and while changes keep coming they are pushed once per
// FlushInterval.
func (h *Hub) Run(ctx context.Context) {
	var last time.Time
	var buf []view.Change
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.pending.wake:
		}
		if wait := time.Until(last.Add(h.cfg.FlushInterval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		last = time.Now()
		buf = h.pending.take(buf)
		h.flush(buf)
		h.m.flushSeconds.Observe(time.Since(last).Seconds())
	}
}

// Close disconnects every client (they will reconnect, to another instance
// if there is one) and waits for their callbacks.
func (h *Hub) Close() { h.srv.Close() }

// flush pushes the latest count of every changed key to its room.
func (h *Hub) flush(keys []view.Change) {
	var payload []byte
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	for _, k := range keys {
		room := roomOf(h.sizes[k.Size].Label, k.Video)
		if h.srv.RoomSize(room) == 0 {
			continue
		}
		c, ok := h.view.Get(k.Size, k.Video, k.Start)
		if !ok {
			continue // pruned meanwhile
		}
		payload = appendCount(payload[:0], k.Video, c)
		// BroadcastTo encodes a copy, so payload can be reused.
		if err := h.srv.BroadcastTo(room, h.events[k.Size], json.RawMessage(payload)); err != nil {
			h.log.Error("live: push failed", "room", room, "err", err)
			continue
		}
		h.m.pushes.Inc()
	}
}

// PublishGenerator pushes the like generator's status to every client as
// generator_progress, and keeps it for clients that connect later.
func (h *Hub) PublishGenerator(status json.RawMessage) {
	h.generatorMu.Lock()
	h.lastGenerator = status
	h.generatorMu.Unlock()
	if err := h.srv.BroadcastTo(generatorRoom, EventGeneratorProgress, status); err != nil {
		h.log.Error("live: generator progress not pushed", "err", err)
	}
}

func (h *Hub) onConnect(c *socketio.Conn) {
	h.clientsMu.Lock()
	h.clients[c] = &client{consumed: make([]bool, len(h.sizes))}
	h.clientsMu.Unlock()
	_ = c.Join(generatorRoom)
	h.generatorMu.Lock()
	status := h.lastGenerator
	h.generatorMu.Unlock()
	if status != nil {
		_ = c.Emit(EventGeneratorProgress, status)
	}
}

func (h *Hub) onDisconnect(c *socketio.Conn, _ string) {
	h.clientsMu.Lock()
	delete(h.clients, c)
	h.clientsMu.Unlock()
}

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

func (h *Hub) onRegister(c *socketio.Conn, args []json.RawMessage) []any {
	cl := h.client(c)
	if cl == nil {
		return nil
	}
	ids, err := parseRooms(args, h.cfg.MaxVideos)
	if err != nil {
		return h.refuse(c, EventRegister, reasonBadPayload, err)
	}
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
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	for _, id := range added {
		for i, s := range h.sizes {
			if cl.consumed[i] {
				if err := c.Join(roomOf(s.Label, id)); err != nil {
					return h.refuse(c, EventRegister, reasonTooManyRooms, err)
				}
			}
		}
		cl.videos = append(cl.videos, id)
	}
	now := time.Now()
	for i := range h.sizes {
		if cl.consumed[i] {
			h.snapshot(c, i, ids, now)
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
	for _, id := range ids {
		if i := slices.Index(cl.videos, id); i >= 0 {
			cl.videos = slices.Delete(cl.videos, i, i+1)
			for _, s := range h.sizes {
				c.Leave(roomOf(s.Label, id))
			}
		}
	}
	return roomsAck(cl)
}

// onConsume returns the handler of the consume event of size index i. Its
// payload ({} in the original) is ignored.
func (h *Hub) onConsume(i int) func(*socketio.Conn, []json.RawMessage) []any {
	label := h.sizes[i].Label
	return func(c *socketio.Conn, _ []json.RawMessage) []any {
		cl := h.client(c)
		if cl == nil {
			return nil
		}
		h.pushMu.Lock()
		defer h.pushMu.Unlock()
		if !cl.consumed[i] {
			for _, id := range cl.videos {
				if err := c.Join(roomOf(label, id)); err != nil {
					return h.refuse(c, ConsumeEvent(h.sizes[i]), reasonTooManyRooms, err)
				}
			}
			cl.consumed[i] = true
		}
		h.snapshot(c, i, cl.videos, time.Now())
		return []any{map[string]string{"window": label}}
	}
}

// snapshot sends the current counts of size index i of videos to c. The
// caller holds pushMu.
func (h *Hub) snapshot(c *socketio.Conn, i int, videos []string, now time.Time) {
	var payload []byte
	for _, id := range videos {
		payload = appendCount(payload[:0], id, h.view.Current(i, id, now))
		if err := c.Emit(h.events[i], json.RawMessage(payload)); err != nil {
			return // the client is gone or was dropped
		}
		h.m.snapshots.Inc()
	}
}
