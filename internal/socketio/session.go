package socketio

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// transport is the transport a session currently uses to send packets.
type transport int

const (
	transportPolling transport = iota
	transportWebSocket
)

// session is one Engine.IO session: its transport, heartbeat and outgoing
// queue, and the Socket.IO connection to the main namespace it carries.
type session struct {
	id   string
	srv  *Server
	out  *outbox
	done chan struct{} // closed when the session is closed

	// handlerMu serializes the inbound packets of the session, hence the
	// callbacks for its Conn: OnConnect, events, then OnDisconnect.
	handlerMu sync.Mutex

	mu        sync.Mutex
	transport transport
	closed    bool
	reason    string          // why the session ends; set once
	ws        *websocket.Conn // the WebSocket, once it carries the session
	probe     *websocket.Conn // a WebSocket trying to upgrade the session
	upgrading bool            // probe answered: polls return at once
	polling   bool            // a GET is pending
	posting   bool            // a POST is being handled
	conn      *Conn           // nil until the client connects to "/"
	timer     *time.Timer     // heartbeat, or the deadline of a graceful close
	timerKind timerKind       // what timer does when it fires
	timerSeq  uint64          // invalidates replaced timers
	connTimer *time.Timer     // ConnectTimeout
}

// timerKind is what the session timer does when it fires.
type timerKind int

const (
	timerPing      timerKind = iota // send a ping
	timerPong                       // no pong in time: drop the client
	timerCloseWait                  // a graceful close took too long
)

func newSession(srv *Server, t transport) *session {
	return &session{
		id:        rand.Text(),
		srv:       srv,
		out:       newOutbox(srv.opts.SendQueueSize),
		done:      make(chan struct{}),
		transport: t,
	}
}

// start arms the heartbeat and the connect timeout, and starts the writer of
// a WebSocket session. The session must be registered.
func (s *session) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armLocked(timerPing, s.srv.opts.PingInterval)
	s.connTimer = time.AfterFunc(s.srv.opts.ConnectTimeout, s.connectTimedOut)
	if s.ws != nil {
		s.startWriterLocked(s.ws)
	}
}

// startWriterLocked starts the goroutine writing the queue to ws.
func (s *session) startWriterLocked(ws *websocket.Conn) {
	if s.closed {
		return
	}
	s.srv.wg.Add(1)
	go s.writeLoop(ws)
}

// armLocked (re)arms the session timer. A timer that fires after being
// replaced sees a stale sequence number and does nothing.
func (s *session) armLocked(kind timerKind, d time.Duration) {
	if s.closed {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerSeq++
	s.timerKind = kind
	seq := s.timerSeq
	s.timer = time.AfterFunc(d, func() { s.timerFired(seq, kind) })
}

func (s *session) timerFired(seq uint64, kind timerKind) {
	s.mu.Lock()
	if s.closed || seq != s.timerSeq {
		s.mu.Unlock()
		return
	}
	if kind == timerPing {
		s.armLocked(timerPong, s.srv.opts.PingTimeout)
	}
	s.mu.Unlock()
	switch kind {
	case timerPing:
		_ = s.send(pingPacket)
	case timerPong:
		s.drop(ReasonPingTimeout, DropPingTimeout)
	case timerCloseWait:
		s.close(ReasonServerDisconnect) // the reason of the shutdown wins
	}
}

// onPong handles a pong: the next ping is due after PingInterval.
func (s *session) onPong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timerKind == timerPong {
		s.armLocked(timerPing, s.srv.opts.PingInterval)
	}
}

func (s *session) connectTimedOut() {
	s.mu.Lock()
	connected := s.conn != nil
	s.mu.Unlock()
	if !connected {
		s.srv.log.Debug("socketio: no connection to the main namespace in time", "sid", s.id)
		s.close(ReasonProtocolError)
	}
}

// send queues an encoded packet. A full queue drops the client.
func (s *session) send(p []byte) error {
	switch s.out.push(p) {
	case pushed:
		return nil
	case queueFull:
		s.drop(ReasonSlowClient, DropSlowClient)
		return ErrSlowClient
	default:
		return ErrClosed
	}
}

// drop closes the session for a reason that the dropped metric counts.
func (s *session) drop(reason, metric string) { s.end(reason, metric) }

// shutdown ends the session gracefully: the client's connection to "/" ends
// now, what is queued is still written, then the transport is closed; after
// WriteTimeout the session is closed regardless.
func (s *session) shutdown(reason string) {
	s.mu.Lock()
	if s.closed || s.reason != "" {
		s.mu.Unlock()
		return
	}
	s.reason = reason
	c := s.detachConnLocked()
	s.armLocked(timerCloseWait, s.srv.opts.WriteTimeout)
	s.mu.Unlock()
	s.out.seal()
	s.srv.finishConn(c, reason)
}

// close ends the session now and reports whether this call did it. The
// reason of an earlier shutdown wins over reason.
func (s *session) close(reason string) bool { return s.end(reason, "") }

// end is close, counting the session as dropped for metric unless empty.
// The count precedes the closing of the transport, so that a client seeing
// the close also sees the count.
func (s *session) end(reason, metric string) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if s.reason == "" {
		s.reason = reason
	}
	reason = s.reason
	c := s.detachConnLocked()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.connTimer != nil {
		s.connTimer.Stop()
	}
	ws, probe := s.ws, s.probe
	s.mu.Unlock()

	if metric != "" {
		s.srv.metrics.dropped.WithLabelValues(metric).Inc()
		level := slog.LevelDebug
		if metric == DropSlowClient {
			level = slog.LevelWarn
		}
		s.srv.log.Log(context.Background(), level, "socketio: client dropped", "sid", s.id, "reason", reason)
	}
	s.srv.removeSession(s)
	close(s.done)
	if ws != nil {
		_ = ws.CloseNow()
	}
	if probe != nil {
		_ = probe.CloseNow()
	}
	s.srv.finishConn(c, reason)
	s.srv.log.Debug("socketio: session closed", "sid", s.id, "reason", reason)
	return true
}

// detachConnLocked takes the session's Conn out of the server. It returns
// the Conn if it was connected, for finishConn to call OnDisconnect; the
// server's WaitGroup then counts that call already, under s.mu, so that
// Server.Close, which closes every session before waiting, cannot miss it.
func (s *session) detachConnLocked() *Conn {
	c := s.conn
	s.conn = nil
	if c == nil || !s.srv.detach(c) {
		return nil
	}
	s.srv.wg.Add(1)
	return c
}
