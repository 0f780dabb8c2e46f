package socketio

import (
	"errors"
	"fmt"
	"slices"
)

// Disconnect reasons, passed to the OnDisconnect callback.
const (
	ReasonClientDisconnect = "client namespace disconnect" // the client left
	ReasonServerDisconnect = "server namespace disconnect" // Conn.Close
	ReasonTransportClose   = "transport close"             // the client closed the transport
	ReasonTransportError   = "transport error"             // reading or writing failed
	ReasonPingTimeout      = "ping timeout"                // no pong in time
	ReasonSlowClient       = "slow client"                 // send queue full or write timed out
	ReasonPayloadTooLarge  = "payload too large"           // message above MaxPayload
	ReasonProtocolError    = "protocol error"              // malformed packet or illegal state
	ReasonServerShutdown   = "server shutting down"        // Server.Close
)

// Errors returned by Conn methods.
var (
	// ErrClosed is returned when the connection is already disconnected.
	ErrClosed = errors.New("socketio: connection closed")
	// ErrTooManyRooms is returned by Join past Options.MaxRoomsPerConn.
	ErrTooManyRooms = errors.New("socketio: too many rooms")
	// ErrSlowClient is returned by Emit when the client's send queue is
	// full; the client has been dropped.
	ErrSlowClient = errors.New("socketio: send queue full, client dropped")
)

// Conn is a client's connection to the main namespace "/". Its methods are
// safe for concurrent use.
type Conn struct {
	id  string
	srv *Server
	s   *session

	// Guarded by srv.mu.
	rooms    map[string]struct{}
	attached bool // counted in the server
	closed   bool // disconnected; never attached again
}

// ID returns the Socket.IO id of the connection, the client's socket.id.
func (c *Conn) ID() string { return c.id }

// Join adds the connection to room. Joining a room twice is a no-op. It fails
// with ErrTooManyRooms past Options.MaxRoomsPerConn rooms, and with
// ErrClosed after the connection ended.
func (c *Conn) Join(room string) error {
	srv := c.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if _, ok := c.rooms[room]; ok {
		return nil
	}
	if len(c.rooms) >= srv.opts.MaxRoomsPerConn {
		return fmt.Errorf("%w: at most %d", ErrTooManyRooms, srv.opts.MaxRoomsPerConn)
	}
	c.rooms[room] = struct{}{}
	members := srv.rooms[room]
	if members == nil {
		members = make(map[*Conn]struct{})
		srv.rooms[room] = members
	}
	members[c] = struct{}{}
	return nil
}

// Leave removes the connection from room, if it is in it.
func (c *Conn) Leave(room string) {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if _, ok := c.rooms[room]; ok {
		delete(c.rooms, room)
		c.srv.removeMemberLocked(room, c)
	}
}

// Rooms returns the rooms the connection is in, sorted.
func (c *Conn) Rooms() []string {
	c.srv.mu.RLock()
	rooms := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		rooms = append(rooms, r)
	}
	c.srv.mu.RUnlock()
	slices.Sort(rooms)
	return rooms
}

// Emit queues the event ["event", args...] for the client; args are encoded
// with encoding/json. It never blocks: when the client's send queue is full
// the client is dropped and ErrSlowClient returned.
func (c *Conn) Emit(event string, args ...any) error {
	p, err := eventPacket(event, args)
	if err != nil {
		return fmt.Errorf("socketio: encode event %q: %w", event, err)
	}
	if c.isClosed() {
		return ErrClosed
	}
	return c.s.send(p)
}

// Close disconnects the client from the server: it is told so (and, being a
// socket.io client, does not reconnect), then its transport is closed once
// what was queued before is written. OnDisconnect is called with
// ReasonServerDisconnect.
func (c *Conn) Close() {
	if c.isClosed() {
		return
	}
	if c.s.send(disconnectPacket) == nil {
		c.s.shutdown(ReasonServerDisconnect)
	}
}

func (c *Conn) isClosed() bool {
	c.srv.mu.RLock()
	defer c.srv.mu.RUnlock()
	return c.closed
}
