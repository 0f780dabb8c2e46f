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
// The original events never go back: a client that was sent a window of a
// (video, size) is never sent an older one, so the final of window k that
// arrives after the first counts of window k+1 (it comes after the grace)
// is not sent to it as live_aggregations_*. The window events carry it: a
// client that sends consume_windows_<label> receives live_windows_<label>,
// the same payload for every window, late finals included (marks.go,
// push.go).
//
// Nothing is sent before the view has caught up with the output topics
// (Config.Ready): a client that registers earlier gets its snapshot then,
// so a client reconnecting to a restarted instance never sees the partial
// counts of a view still loading.
//
// Changes are coalesced per (video, size, window): a flush pushes each one
// once with its latest count, and flushes happen at most once per
// FlushInterval, so a hot video cannot flood a client. Each (stream, size,
// video) is a Socket.IO room, so a push is usually encoded once for all
// its recipients, and the socketio package drops a client whose queue is
// full rather than wait for it.
package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
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
	// Ready is closed once the view is complete (it has read what the
	// output topics held at start-up); until then the hub sends no counts
	// and keeps the snapshots of the clients that register. Nil: the view
	// is complete.
	Ready <-chan struct{}
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
	windows []string // window event per size index

	// pushMu orders what reaches a client: a snapshot (the counts sent
	// when a client registers or consumes) and a flush never interleave,
	// and both read the view when they send, so a client never gets an
	// older count after a newer one. It guards ready, sent and the fields
	// of every client.
	pushMu sync.Mutex
	ready  bool   // the view is complete: counts may be sent
	sent   *marks // what each client was sent of the original events

	clientsMu sync.Mutex
	clients   map[*socketio.Conn]*client

	generatorMu   sync.Mutex
	lastGenerator json.RawMessage // last generator status, sent to new clients
}

// client is what one connection asked for. Its fields are written under
// pushMu, by the connection's own callbacks (socketio runs those one at a
// time).
type client struct {
	videos   []string           // registered, in registration order
	consumed [numStreams][]bool // per stream, per size index
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
	// Rooms of one client: one per video, size and stream.
	perClient := cfg.MaxVideos * len(sizes)
	h := &Hub{
		cfg:     cfg,
		view:    v,
		sizes:   sizes,
		log:     cfg.Logger.With("component", "live"),
		m:       newMetrics(cfg.Registerer),
		pending: newCoalescer(),
		sent:    newMarks(len(sizes)),
		ready:   cfg.Ready == nil,
		clients: map[*socketio.Conn]*client{},
	}
	h.srv = socketio.NewServer(socketio.Options{
		PingInterval:    cfg.PingInterval,
		PingTimeout:     cfg.PingTimeout,
		MaxPayload:      maxPayload,
		MaxRoomsPerConn: int(numStreams)*perClient + 1, // + the generator room
		// A snapshot of every registered video for every size fits: one
		// original event, and two window events (the last closed and
		// the current window).
		SendQueueSize:  3*perClient + socketio.DefaultSendQueueSize,
		AllowedOrigins: cfg.AllowedOrigins,
		Registerer:     cfg.Registerer,
	}, cfg.Logger.With("component", "socketio"))
	h.srv.OnConnect(h.onConnect)
	h.srv.OnDisconnect(h.onDisconnect)
	h.srv.OnEvent(EventRegister, h.onRegister)
	h.srv.OnEvent(EventUnregister, h.onUnregister)
	for i, s := range sizes {
		h.events = append(h.events, LiveEvent(s))
		h.windows = append(h.windows, WindowsEvent(s))
		h.srv.OnEvent(ConsumeEvent(s), h.onConsume(original, i))
		h.srv.OnEvent(ConsumeWindowsEvent(s), h.onConsume(windows, i))
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

// Run pushes changes until ctx ends: once Config.Ready is closed, it sends
// the clients registered meanwhile their snapshots; then a change after a
// quiet period is pushed at once, and while changes keep coming they are
// pushed once per FlushInterval.
func (h *Hub) Run(ctx context.Context) {
	if h.cfg.Ready != nil {
		select {
		case <-ctx.Done():
			return
		case <-h.cfg.Ready:
		}
	}
	h.becomeReady()
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

// PublishGenerator pushes the like generator's status to every client as
// generator_progress, and keeps it for clients that connect later.
func (h *Hub) PublishGenerator(status json.RawMessage) {
	// Under generatorMu, as onConnect's join and read: a client that
	// connects meanwhile gets each status once, in order (the one it reads
	// at connect, then the broadcasts), never the same one twice.
	h.generatorMu.Lock()
	defer h.generatorMu.Unlock()
	h.lastGenerator = status
	if err := h.srv.BroadcastTo(generatorRoom, EventGeneratorProgress, status); err != nil {
		h.log.Error("live: generator progress not pushed", "err", err)
	}
}

func (h *Hub) onConnect(c *socketio.Conn) {
	cl := &client{}
	for st := range cl.consumed {
		cl.consumed[st] = make([]bool, len(h.sizes))
	}
	h.clientsMu.Lock()
	h.clients[c] = cl
	h.clientsMu.Unlock()
	h.generatorMu.Lock()
	defer h.generatorMu.Unlock()
	_ = c.Join(generatorRoom)
	if h.lastGenerator != nil {
		_ = c.Emit(EventGeneratorProgress, h.lastGenerator)
	}
}

func (h *Hub) onDisconnect(c *socketio.Conn, _ string) {
	h.clientsMu.Lock()
	cl := h.clients[c]
	delete(h.clients, c)
	h.clientsMu.Unlock()
	if cl == nil {
		return
	}
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	for _, id := range cl.videos {
		for i := range h.sizes {
			h.sent.leave(i, id, c)
		}
	}
}
