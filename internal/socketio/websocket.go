package socketio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/counter-dev/counter/internal/socketio/wire"
)

// serveWebSocket serves a WebSocket handshake: a new session when sid is
// empty, else the upgrade of a polling session.
func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, sid string) {
	var s *session
	if sid != "" {
		if s = srv.session(sid); s == nil {
			writeError(w, http.StatusBadRequest, codeUnknownSID)
			return
		}
	}
	// Server.Close waits for the WebSocket to be done with.
	if !srv.track() {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	defer srv.wg.Done()
	// The connection outlives any deadline the http.Server set for requests.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	// ServeHTTP checked the origin already.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		srv.log.Debug("socketio: WebSocket handshake failed", "err", err)
		return
	}
	ws.SetReadLimit(srv.opts.MaxPayload)
	if s != nil {
		s.upgrade(ws)
		return
	}
	s = newSession(srv, transportWebSocket)
	s.ws = ws
	if !srv.addSession(s) {
		_ = ws.CloseNow()
		return
	}
	s.out.push(openPacket(s.id, nil, &srv.opts))
	s.start()
	srv.log.Debug("socketio: session opened", "sid", s.id, "transport", "websocket")
	s.readLoop(ws)
}

// upgrade moves a polling session to ws: the client probes with a ping, the
// server answers and ends the pending poll, the client sends "upgrade". A
// failed upgrade leaves the session on polling.
func (s *session) upgrade(ws *websocket.Conn) {
	s.mu.Lock()
	if s.closed || s.transport != transportPolling || s.probe != nil {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	s.probe = ws
	s.mu.Unlock()

	if err := s.probeUpgrade(ws); err != nil {
		s.mu.Lock()
		s.probe, s.upgrading = nil, false
		s.mu.Unlock()
		_ = ws.CloseNow()
		s.srv.log.Debug("socketio: upgrade failed", "sid", s.id, "err", err)
		return
	}
	s.mu.Lock()
	if s.closed { // close closed the probe
		s.mu.Unlock()
		return
	}
	s.probe, s.upgrading = nil, false
	s.transport, s.ws = transportWebSocket, ws
	s.startWriterLocked(ws)
	s.mu.Unlock()
	s.srv.log.Debug("socketio: session upgraded", "sid", s.id)
	s.readLoop(ws)
}

// probeUpgrade runs the probe exchange of an upgrade.
func (s *session) probeUpgrade(ws *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.UpgradeTimeout)
	defer cancel()
	p, cerr := readPacket(ctx, ws)
	if cerr != nil {
		return cerr
	}
	if p.Type != wire.EIOPing || string(p.Data) != wire.Probe {
		return errors.New("first packet is not a probe")
	}
	if err := ws.Write(ctx, websocket.MessageText, probePong); err != nil {
		return err
	}
	s.mu.Lock()
	s.upgrading = true
	s.mu.Unlock()
	s.out.signal() // the pending poll, if any, answers noop
	if p, cerr = readPacket(ctx, ws); cerr != nil {
		return cerr
	}
	if p.Type != wire.EIOUpgrade {
		return errors.New("packet after the probe is not upgrade")
	}
	return nil
}

// readLoop handles the packets the client sends on ws until the session
// ends.
func (s *session) readLoop(ws *websocket.Conn) {
	for {
		p, err := readPacket(context.Background(), ws)
		if err == nil {
			err = s.handlePacket(p)
		}
		if err != nil {
			s.fail(err)
			return
		}
	}
}

// readPacket reads one text frame and decodes it.
func readPacket(ctx context.Context, ws *websocket.Conn) (wire.EIOPacket, *closeError) {
	typ, data, err := ws.Read(ctx)
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		return wire.EIOPacket{}, &closeError{reason: ReasonPayloadTooLarge, drop: DropPayloadTooLarge, err: err}
	case websocket.CloseStatus(err) != -1, errors.Is(err, io.EOF):
		return wire.EIOPacket{}, &closeError{reason: ReasonTransportClose, err: err}
	case err != nil:
		return wire.EIOPacket{}, &closeError{reason: ReasonTransportError, err: err}
	case typ != websocket.MessageText:
		return wire.EIOPacket{}, protocolError("binary frames are not supported")
	}
	p, err := wire.ParseEIO(data)
	if err != nil {
		return p, protocolError("bad Engine.IO packet: %w", err)
	}
	return p, nil
}

// writeLoop writes the queue to ws until the session ends, in batches: all
// that is queued at once, under one deadline.
func (s *session) writeLoop(ws *websocket.Conn) {
	defer s.srv.wg.Done()
	// A watchdog rather than a context deadline enforces WriteTimeout: the
	// library would otherwise arm a timer for every frame.
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(time.Hour, func() {
		timedOut.Store(true)
		_ = ws.CloseNow()
	})
	watchdog.Stop()
	defer watchdog.Stop()

	var batch [][]byte
	for {
		var last bool
		batch, last = s.out.take(batch)
		if len(batch) > 0 {
			watchdog.Reset(s.srv.opts.WriteTimeout)
			err := writeBatch(ws, batch)
			watchdog.Stop()
			if timedOut.Load() {
				s.drop(ReasonSlowClient, DropSlowClient)
				return
			}
			if err != nil {
				s.fail(&closeError{reason: ReasonTransportError, err: err})
				return
			}
			s.srv.metrics.sent.Add(float64(countMessages(batch)))
		}
		if last {
			_ = ws.Close(websocket.StatusNormalClosure, "")
			s.close(ReasonServerDisconnect) // the reason of the shutdown wins
			return
		}
		select {
		case <-s.out.wake:
		case <-s.done:
			return
		}
	}
}

// writeBatch writes each packet in its own frame.
func writeBatch(ws *websocket.Conn, batch [][]byte) error {
	for _, p := range batch {
		if err := ws.Write(context.Background(), websocket.MessageText, p); err != nil {
			return err
		}
	}
	return nil
}
