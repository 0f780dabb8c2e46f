package socketio

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/counter-dev/counter/internal/socketio/wire"
)

// closeError is returned by packet handling when the session must close.
type closeError struct {
	reason string // a Reason constant
	drop   string // a Drop constant, or "" when not a drop
	err    error
}

func (e *closeError) Error() string { return e.reason + ": " + e.err.Error() }

// errClientClosed is returned when the client sent an Engine.IO close packet.
var errClientClosed = &closeError{reason: ReasonTransportClose, err: errors.New("close packet")}

func protocolError(format string, args ...any) *closeError {
	return &closeError{reason: ReasonProtocolError, drop: DropProtocolError, err: fmt.Errorf(format, args...)}
}

// fail closes the session for the closeError err.
func (s *session) fail(err *closeError) {
	s.srv.log.Debug("socketio: closing session", "sid", s.id, "err", err)
	s.end(err.reason, err.drop)
}

// handlePacket processes one inbound Engine.IO packet on an established
// transport.
func (s *session) handlePacket(p wire.EIOPacket) *closeError {
	switch p.Type {
	case wire.EIOPong:
		s.onPong()
	case wire.EIOPing:
		// Clients of protocol v4 do not ping, but answering is harmless.
		if err := s.send(wire.AppendEIO(nil, wire.EIOPong, p.Data)); err != nil {
			return nil // the session was closed by send
		}
	case wire.EIOMessage:
		if p.Binary {
			return protocolError("binary messages are not supported")
		}
		return s.handleMessage(p.Data)
	case wire.EIOClose:
		return errClientClosed
	case wire.EIONoop, wire.EIOUpgrade:
	default:
		return protocolError("unexpected Engine.IO packet type %d", p.Type)
	}
	return nil
}

// handleMessage processes one Socket.IO packet.
func (s *session) handleMessage(data []byte) *closeError {
	p, err := wire.ParseSIO(data)
	if err != nil {
		return protocolError("bad Socket.IO packet: %w", err)
	}
	s.handlerMu.Lock()
	defer s.handlerMu.Unlock()
	switch p.Type {
	case wire.SIOConnect:
		return s.handleConnect(p)
	case wire.SIODisconnect:
		if p.Namespace == wire.MainNamespace {
			s.handleDisconnect()
		}
		return nil
	case wire.SIOEvent:
		return s.handleEvent(p)
	case wire.SIOAck:
		return nil // the server asks for no acknowledgements
	case wire.SIOBinaryEvent, wire.SIOBinaryAck:
		return protocolError("binary events are not supported")
	default:
		return protocolError("unexpected Socket.IO packet type %d", p.Type)
	}
}

// handleConnect accepts a connection to the main namespace and refuses any
// other.
func (s *session) handleConnect(p wire.SIOPacket) *closeError {
	if p.Namespace != wire.MainNamespace {
		_ = s.send(connectErrorPacket(p.Namespace, "Invalid namespace"))
		return nil
	}
	s.mu.Lock()
	if s.closed || s.reason != "" {
		s.mu.Unlock()
		return nil
	}
	if c := s.conn; c != nil { // already connected: confirm again
		s.mu.Unlock()
		_ = s.send(connectPacket(c.id))
		return nil
	}
	c := &Conn{id: rand.Text(), srv: s.srv, s: s, rooms: make(map[string]struct{})}
	if !s.srv.attach(c) {
		s.mu.Unlock()
		return nil
	}
	s.conn = c
	if s.connTimer != nil {
		s.connTimer.Stop()
	}
	s.mu.Unlock()
	if s.send(connectPacket(c.id)) != nil {
		return nil
	}
	s.srv.log.Debug("socketio: connected", "id", c.id, "sid", s.id)
	s.srv.callConnect(c)
	return nil
}

// handleDisconnect ends the connection to the main namespace at the client's
// request; the session stays open.
func (s *session) handleDisconnect() {
	s.mu.Lock()
	c := s.detachConnLocked()
	s.mu.Unlock()
	if c != nil {
		s.srv.callDisconnect(c, ReasonClientDisconnect)
		s.srv.wg.Done()
	}
}

// handleEvent runs the handler of an event and sends its acknowledgement.
func (s *session) handleEvent(p wire.SIOPacket) *closeError {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil || p.Namespace != wire.MainNamespace {
		return protocolError("event for namespace %q, which is not connected", p.Namespace)
	}
	name, args, err := wire.ParseEvent(p.Data)
	if err != nil {
		return protocolError("bad event: %w", err)
	}
	h := s.srv.eventHandler(name)
	if h == nil {
		s.srv.metrics.dropped.WithLabelValues(DropUnknownEvent).Inc()
		s.srv.log.Debug("socketio: event without handler ignored", "event", name, "id", c.id)
		return nil
	}
	var ack []any
	s.srv.guard("event "+name, c, func() { ack = h(c, args) })
	if !p.HasID {
		return nil
	}
	packet, err := ackPacket(p.ID, ack)
	if err != nil {
		s.srv.log.Error("socketio: acknowledgement not encodable", "event", name, "err", err)
		packet, _ = ackPacket(p.ID, nil)
	}
	_ = s.send(packet)
	return nil
}
