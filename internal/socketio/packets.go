package socketio

import (
	"encoding/json"

	"github.com/counter-dev/counter/internal/socketio/wire"
)

// Engine.IO packets without payload, shared by every session.
var (
	pingPacket  = wire.AppendEIO(nil, wire.EIOPing, nil)
	closePacket = wire.AppendEIO(nil, wire.EIOClose, nil)
	noopPacket  = wire.AppendEIO(nil, wire.EIONoop, nil)
	probePong   = wire.AppendEIO(nil, wire.EIOPong, []byte(wire.Probe))
	// disconnectPacket tells the client the server closed its connection to
	// the main namespace; socket.io clients then do not reconnect.
	disconnectPacket = messagePacket(wire.SIOPacket{Type: wire.SIODisconnect})
)

// openPacket encodes the handshake packet of a new session.
func openPacket(sid string, upgrades []string, o *Options) []byte {
	if upgrades == nil {
		upgrades = []string{}
	}
	data, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{sid, upgrades, o.PingInterval.Milliseconds(), o.PingTimeout.Milliseconds(), o.MaxPayload})
	return wire.AppendEIO(nil, wire.EIOOpen, data)
}

// messagePacket encodes a Socket.IO packet inside an Engine.IO message.
func messagePacket(p wire.SIOPacket) []byte {
	return wire.AppendSIO(wire.AppendEIO(nil, wire.EIOMessage, nil), p)
}

// eventPacket encodes the event ["event", args...] for the main namespace.
func eventPacket(event string, args []any) ([]byte, error) {
	data, err := wire.AppendEventData(nil, event, args)
	if err != nil {
		return nil, err
	}
	return messagePacket(wire.SIOPacket{Type: wire.SIOEvent, Data: data}), nil
}

// ackPacket encodes the acknowledgement of event id with values.
func ackPacket(id uint64, values []any) ([]byte, error) {
	data, err := wire.AppendArray(nil, values)
	if err != nil {
		return nil, err
	}
	return messagePacket(wire.SIOPacket{Type: wire.SIOAck, HasID: true, ID: id, Data: data}), nil
}

// connectPacket accepts a connection to the main namespace.
func connectPacket(sid string) []byte {
	data, _ := json.Marshal(struct {
		SID string `json:"sid"`
	}{sid})
	return messagePacket(wire.SIOPacket{Type: wire.SIOConnect, Data: data})
}

// connectErrorPacket refuses a connection to namespace nsp.
func connectErrorPacket(nsp, message string) []byte {
	data, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	return messagePacket(wire.SIOPacket{Type: wire.SIOConnectError, Namespace: nsp, Data: data})
}

// isMessage tells whether an encoded Engine.IO packet is a message, for the
// messages sent metric.
func isMessage(p []byte) bool { return len(p) > 0 && p[0] == '0'+byte(wire.EIOMessage) }

// countMessages counts the message packets of a batch.
func countMessages(batch [][]byte) int {
	n := 0
	for _, p := range batch {
		if isMessage(p) {
			n++
		}
	}
	return n
}
