// Package livetest is a minimal Socket.IO client over WebSocket, for the
// tests and benchmarks of the live push: it connects to the main namespace,
// answers the server's pings, emits events (with or without an
// acknowledgement) and hands every event it receives to a callback.
package livetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/counter-dev/counter/internal/socketio/wire"
)

// Event is one event received from the server.
type Event struct {
	Name string            // the event name
	Args []json.RawMessage // its arguments
	At   time.Time         // when it was read
}

// Client is a connected Socket.IO client.
type Client struct {
	ws      *websocket.Conn
	onEvent func(Event)
	// ID is the Socket.IO id the server gave the connection.
	ID string

	mu     sync.Mutex
	nextID uint64
	acks   map[uint64]chan []json.RawMessage
	done   chan struct{}
	err    error
}

// Dial connects to the Socket.IO server at baseURL (http://host:port) over
// WebSocket only. onEvent, if not nil, is called for each event from the
// client's reading goroutine, in order.
func Dial(ctx context.Context, baseURL string, onEvent func(Event)) (*Client, error) {
	u := strings.Replace(baseURL, "http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	c := &Client{ws: ws, onEvent: onEvent, acks: map[uint64]chan []json.RawMessage{}, done: make(chan struct{})}
	// Engine.IO open, then the Socket.IO connect handshake.
	if p, err := c.read(ctx); err != nil || p.Type != wire.EIOOpen {
		ws.CloseNow()
		return nil, fmt.Errorf("livetest: no open packet: %v", err)
	}
	if err := c.write(ctx, wire.AppendSIO(wire.AppendEIO(nil, wire.EIOMessage, nil), wire.SIOPacket{Type: wire.SIOConnect})); err != nil {
		ws.CloseNow()
		return nil, err
	}
	for c.ID == "" {
		p, err := c.read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, fmt.Errorf("livetest: no connect packet: %w", err)
		}
		if p.Type != wire.EIOMessage {
			continue
		}
		sp, err := wire.ParseSIO(p.Data)
		if err != nil || sp.Type != wire.SIOConnect {
			ws.CloseNow()
			return nil, fmt.Errorf("livetest: unexpected packet %q", p.Data)
		}
		var hello struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(sp.Data, &hello); err != nil || hello.SID == "" {
			ws.CloseNow()
			return nil, fmt.Errorf("livetest: bad connect packet %q", p.Data)
		}
		c.ID = hello.SID
	}
	go c.loop()
	return c, nil
}

func (c *Client) read(ctx context.Context) (wire.EIOPacket, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return wire.EIOPacket{}, err
	}
	return wire.ParseEIO(b)
}

func (c *Client) write(ctx context.Context, b []byte) error {
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// loop reads until the connection ends.
func (c *Client) loop() {
	defer close(c.done)
	ctx := context.Background()
	for {
		p, err := c.read(ctx)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		switch p.Type {
		case wire.EIOPing:
			_ = c.write(ctx, wire.AppendEIO(nil, wire.EIOPong, nil))
		case wire.EIOMessage:
			c.handle(p.Data)
		case wire.EIOClose:
			return
		}
	}
}

func (c *Client) handle(data []byte) {
	sp, err := wire.ParseSIO(data)
	if err != nil {
		return
	}
	switch sp.Type {
	case wire.SIOEvent:
		name, args, err := wire.ParseEvent(sp.Data)
		if err == nil && c.onEvent != nil {
			c.onEvent(Event{Name: name, Args: args, At: time.Now()})
		}
	case wire.SIOAck:
		var args []json.RawMessage
		_ = json.Unmarshal(sp.Data, &args)
		c.mu.Lock()
		ch := c.acks[sp.ID]
		delete(c.acks, sp.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- args
		}
	}
}

// Emit sends an event without asking for an acknowledgement.
func (c *Client) Emit(ctx context.Context, name string, args ...any) error {
	return c.send(ctx, name, args, false, 0)
}

// EmitRaw sends raw as the Socket.IO payload of an event packet (the JSON
// array), to test malformed input.
func (c *Client) EmitRaw(ctx context.Context, raw string) error {
	return c.write(ctx, wire.AppendEIO(nil, wire.EIOMessage, []byte("2"+raw)))
}

// Call sends an event and waits for its acknowledgement.
func (c *Client) Call(ctx context.Context, name string, args ...any) ([]json.RawMessage, error) {
	ch := make(chan []json.RawMessage, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.acks[id] = ch
	c.mu.Unlock()
	if err := c.send(ctx, name, args, true, id); err != nil {
		return nil, err
	}
	select {
	case res := <-ch:
		return res, nil
	case <-c.done:
		return nil, errors.New("livetest: connection closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) send(ctx context.Context, name string, args []any, ack bool, id uint64) error {
	data, err := wire.AppendEventData(nil, name, args)
	if err != nil {
		return err
	}
	p := wire.SIOPacket{Type: wire.SIOEvent, HasID: ack, ID: id, Data: data}
	return c.write(ctx, wire.AppendSIO(wire.AppendEIO(nil, wire.EIOMessage, nil), p))
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection and waits for the reading goroutine.
func (c *Client) Close() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		_ = c.ws.CloseNow()
		<-c.done
	}
}
