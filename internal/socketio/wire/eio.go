// Package wire encodes and decodes the packets of Engine.IO protocol v4 and
// of Socket.IO protocol v5, the protocols socket.io v4 clients speak. It is
// pure code: no I/O, no goroutines, no state. Decoders never panic, whatever
// the input, and return slices of their input rather than copies.
package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// EIOType is an Engine.IO packet type.
type EIOType byte

// The Engine.IO packet types, numbered as on the wire.
const (
	EIOOpen    EIOType = 0 // handshake, server to client
	EIOClose   EIOType = 1 // the transport can be closed
	EIOPing    EIOType = 2 // heartbeat request, or "probe" during an upgrade
	EIOPong    EIOType = 3 // heartbeat answer, or "probe" during an upgrade
	EIOMessage EIOType = 4 // carries one Socket.IO packet
	EIOUpgrade EIOType = 5 // completes an upgrade to WebSocket
	EIONoop    EIOType = 6 // does nothing; ends a pending poll during an upgrade
)

// RecordSeparator separates packets in an HTTP long-polling payload.
const RecordSeparator = 0x1e

// Probe is the payload of the ping and pong packets of an upgrade.
const Probe = "probe"

// EIOPacket is one decoded Engine.IO packet.
type EIOPacket struct {
	Type EIOType
	// Data is the payload. For a text packet it aliases the decoded input.
	Data []byte
	// Binary is true for a base64 encoded binary message ("b" prefix in a
	// polling payload); Data is then the decoded bytes.
	Binary bool
}

// ErrEmptyPacket is returned for an empty Engine.IO packet.
var ErrEmptyPacket = errors.New("empty packet")

// ParseEIO decodes one Engine.IO text packet: a WebSocket text frame or one
// record of a polling payload.
func ParseEIO(b []byte) (EIOPacket, error) {
	if len(b) == 0 {
		return EIOPacket{}, ErrEmptyPacket
	}
	if b[0] == 'b' {
		data := make([]byte, base64.StdEncoding.DecodedLen(len(b)-1))
		n, err := base64.StdEncoding.Decode(data, b[1:])
		if err != nil {
			return EIOPacket{}, fmt.Errorf("binary packet: %w", err)
		}
		return EIOPacket{Type: EIOMessage, Data: data[:n], Binary: true}, nil
	}
	t := EIOType(b[0] - '0')
	if b[0] < '0' || t > EIONoop {
		return EIOPacket{}, fmt.Errorf("unknown packet type %q", b[0])
	}
	return EIOPacket{Type: t, Data: b[1:]}, nil
}

// AppendEIO appends the text encoding of a packet of type t carrying data.
func AppendEIO(dst []byte, t EIOType, data []byte) []byte {
	return append(append(dst, '0'+byte(t)), data...)
}

// ParsePayload decodes an HTTP long-polling payload: packets separated by
// RecordSeparator. It stops at the first bad packet.
func ParsePayload(body []byte) ([]EIOPacket, error) {
	var packets []EIOPacket
	for {
		i := bytes.IndexByte(body, RecordSeparator)
		record := body
		if i >= 0 {
			record = body[:i]
		}
		p, err := ParseEIO(record)
		if err != nil {
			return nil, fmt.Errorf("packet %d: %w", len(packets), err)
		}
		packets = append(packets, p)
		if i < 0 {
			return packets, nil
		}
		body = body[i+1:]
	}
}

// AppendPayload appends the HTTP long-polling payload made of packets, each
// already encoded with AppendEIO.
func AppendPayload(dst []byte, packets [][]byte) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, RecordSeparator)
		}
		dst = append(dst, p...)
	}
	return dst
}
