package socketio

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// EventHandler handles an event a client emitted. args are the event's
// arguments, as raw JSON. When the client asked for an acknowledgement (it
// passed a callback to emit), the returned values are sent back as the
// callback's arguments; nil sends an acknowledgement without arguments.
//
// Handlers of one connection run one at a time, in the order the client sent
// the events; they should not block.
type EventHandler func(c *Conn, args []json.RawMessage) (ack []any)

// Server is a Socket.IO server. It is an http.Handler, to be mounted at
// Options.Path. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	handlersMu   sync.RWMutex
	onConnect    func(*Conn)
	onDisconnect func(*Conn, string)
	events       map[string]EventHandler

	sessionsMu sync.Mutex
	sessions   map[string]*session
	closed     bool

	// mu guards rooms, nconns and the rooms and state of every Conn. It is
	// taken after session.mu when both are needed.
	mu     sync.RWMutex
	rooms  map[string]map[*Conn]struct{}
	nconns int

	// wg counts WebSocket readers and writers, and pending OnDisconnect
	// calls.
	wg sync.WaitGroup
}

// NewServer returns a server configured by opts, logging to log (nil
// discards the logs).
func NewServer(opts Options, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	return &Server{
		opts:     opts,
		log:      log,
		metrics:  newMetrics(opts.Registerer, log),
		events:   make(map[string]EventHandler),
		sessions: make(map[string]*session),
		rooms:    make(map[string]map[*Conn]struct{}),
	}
}

// Path returns the path the server answers at, for mounting it on a mux.
func (srv *Server) Path() string { return srv.opts.Path }

// OnConnect sets the function called when a client connects to the main
// namespace, before any of its events is handled.
func (srv *Server) OnConnect(f func(c *Conn)) {
	srv.handlersMu.Lock()
	srv.onConnect = f
	srv.handlersMu.Unlock()
}

// OnDisconnect sets the function called once a connected client is gone, with
// one of the Reason constants. The Conn has already left its rooms. It is
// called after the connection's other callbacks have returned.
func (srv *Server) OnDisconnect(f func(c *Conn, reason string)) {
	srv.handlersMu.Lock()
	srv.onDisconnect = f
	srv.handlersMu.Unlock()
}

// OnEvent sets the handler of the event named name. Events without a handler
// are ignored, and counted as dropped with reason unknown_event.
func (srv *Server) OnEvent(name string, h EventHandler) {
	srv.handlersMu.Lock()
	srv.events[name] = h
	srv.handlersMu.Unlock()
}

// BroadcastTo sends the event ["event", args...] to every connection in
// room. The event is encoded once. It never blocks: a client whose send queue
// is full is dropped. It fails only when args cannot be encoded.
func (srv *Server) BroadcastTo(room, event string, args ...any) error {
	p, err := eventPacket(event, args)
	if err != nil {
		return fmt.Errorf("socketio: encode event %q: %w", event, err)
	}
	var slow []*session
	srv.mu.RLock()
	for c := range srv.rooms[room] {
		if c.s.out.push(p) == queueFull {
			slow = append(slow, c.s)
		}
	}
	srv.mu.RUnlock()
	for _, s := range slow {
		s.drop(ReasonSlowClient, DropSlowClient)
	}
	return nil
}

// RoomSize returns the number of connections in room.
func (srv *Server) RoomSize(room string) int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return len(srv.rooms[room])
}

// ConnCount returns the number of clients connected to the main namespace.
func (srv *Server) ConnCount() int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.nconns
}

// Close closes every session, as if the server went away (clients will try
// to reconnect), and waits for the OnDisconnect calls. New requests are
// refused. It must not be called from a callback.
func (srv *Server) Close() {
	srv.sessionsMu.Lock()
	srv.closed = true
	sessions := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		sessions = append(sessions, s)
	}
	srv.sessionsMu.Unlock()
	for _, s := range sessions {
		s.close(ReasonServerShutdown)
	}
	srv.wg.Wait()
}

// track counts a goroutine in srv.wg, unless the server is closed. Counting
// under sessionsMu, which Close takes before it waits, keeps Add before Wait.
func (srv *Server) track() bool {
	srv.sessionsMu.Lock()
	defer srv.sessionsMu.Unlock()
	if srv.closed {
		return false
	}
	srv.wg.Add(1)
	return true
}

// addSession registers a new session; it fails once the server is closed.
func (srv *Server) addSession(s *session) bool {
	srv.sessionsMu.Lock()
	defer srv.sessionsMu.Unlock()
	if srv.closed {
		return false
	}
	srv.sessions[s.id] = s
	return true
}

func (srv *Server) session(id string) *session {
	srv.sessionsMu.Lock()
	defer srv.sessionsMu.Unlock()
	return srv.sessions[id]
}

func (srv *Server) removeSession(s *session) {
	srv.sessionsMu.Lock()
	delete(srv.sessions, s.id)
	srv.sessionsMu.Unlock()
}

// attach counts c as connected; it fails if c was closed meanwhile.
func (srv *Server) attach(c *Conn) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if c.closed {
		return false
	}
	c.attached = true
	srv.nconns++
	srv.metrics.connections.Inc()
	return true
}

// detach closes c, removing it from its rooms, and reports whether it was
// attached until now.
func (srv *Server) detach(c *Conn) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	for room := range c.rooms {
		srv.removeMemberLocked(room, c)
	}
	c.rooms = nil
	if !c.attached {
		return false
	}
	srv.nconns--
	srv.metrics.connections.Dec()
	return true
}

func (srv *Server) removeMemberLocked(room string, c *Conn) {
	members := srv.rooms[room]
	delete(members, c)
	if len(members) == 0 {
		delete(srv.rooms, room)
	}
}

// finishConn calls OnDisconnect for c, if not nil, on its own goroutine once
// the connection's running callback, if any, has returned. The caller has
// counted it in srv.wg.
func (srv *Server) finishConn(c *Conn, reason string) {
	if c == nil {
		return
	}
	go func() {
		defer srv.wg.Done()
		c.s.handlerMu.Lock()
		defer c.s.handlerMu.Unlock()
		srv.callDisconnect(c, reason)
	}()
}

func (srv *Server) callConnect(c *Conn) {
	srv.handlersMu.RLock()
	f := srv.onConnect
	srv.handlersMu.RUnlock()
	if f != nil {
		srv.guard("connect", c, func() { f(c) })
	}
}

func (srv *Server) callDisconnect(c *Conn, reason string) {
	srv.log.Debug("socketio: disconnected", "id", c.id, "reason", reason)
	srv.handlersMu.RLock()
	f := srv.onDisconnect
	srv.handlersMu.RUnlock()
	if f != nil {
		srv.guard("disconnect", c, func() { f(c, reason) })
	}
}

func (srv *Server) eventHandler(name string) EventHandler {
	srv.handlersMu.RLock()
	defer srv.handlersMu.RUnlock()
	return srv.events[name]
}

// guard runs a callback, logging rather than propagating its panic: one
// faulty handler must not take the server down or leave locks held.
func (srv *Server) guard(callback string, c *Conn, f func()) {
	defer func() {
		if v := recover(); v != nil {
			srv.log.Error("socketio: callback panicked", "callback", callback, "id", c.id,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	f()
}
