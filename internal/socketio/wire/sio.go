package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// SIOType is a Socket.IO packet type.
type SIOType byte

// The Socket.IO packet types, numbered as on the wire.
const (
	SIOConnect      SIOType = 0 // connect to a namespace, or accept a connection
	SIODisconnect   SIOType = 1 // leave a namespace
	SIOEvent        SIOType = 2 // an event: ["name", args...]
	SIOAck          SIOType = 3 // acknowledgement of an event with an id
	SIOConnectError SIOType = 4 // connection to a namespace refused
	SIOBinaryEvent  SIOType = 5 // an event with binary attachments
	SIOBinaryAck    SIOType = 6 // an acknowledgement with binary attachments
)

// MainNamespace is the namespace of a packet that names none.
const MainNamespace = "/"

// MaxID is the largest accepted acknowledgement id: the largest integer a
// JavaScript number holds exactly.
const MaxID = 1<<53 - 1

// maxAttachments bounds the attachment count of a binary packet.
const maxAttachments = 1 << 16

// SIOPacket is one Socket.IO packet, as carried by an Engine.IO message.
type SIOPacket struct {
	Type SIOType
	// Namespace starts with "/"; "" is taken as MainNamespace when encoding.
	Namespace string
	// Attachments counts the binary attachments of the binary types.
	Attachments int
	// HasID tells whether ID is set: the sender of an event wants an ACK.
	HasID bool
	ID    uint64
	// Data is the JSON payload, nil when absent. Decoding aliases the input.
	Data []byte
}

// Errors of ParseSIO beyond syntax errors.
var (
	ErrBadPayload = errors.New("payload not allowed for packet type")
	ErrEmptyEvent = errors.New("event payload must be a non-empty array starting with the event name")
)

// ParseSIO decodes a Socket.IO packet and checks its payload has the JSON
// shape its type requires.
func ParseSIO(b []byte) (SIOPacket, error) {
	var p SIOPacket
	if len(b) == 0 {
		return p, ErrEmptyPacket
	}
	if b[0] < '0' || b[0] > '0'+byte(SIOBinaryAck) {
		return p, fmt.Errorf("unknown packet type %q", b[0])
	}
	p.Type = SIOType(b[0] - '0')
	i := 1
	if p.Type == SIOBinaryEvent || p.Type == SIOBinaryAck {
		n, next, ok := parseDigits(b, i)
		if !ok || next >= len(b) || b[next] != '-' || n > maxAttachments {
			return p, errors.New("bad attachment count")
		}
		p.Attachments, i = int(n), next+1
	}
	p.Namespace = MainNamespace
	if i < len(b) && b[i] == '/' {
		end := i
		for end < len(b) && b[end] != ',' {
			end++
		}
		p.Namespace = string(b[i:end])
		i = min(end+1, len(b))
	}
	if i < len(b) && isDigit(b[i]) {
		id, next, ok := parseDigits(b, i)
		if !ok || id > MaxID {
			return p, errors.New("bad acknowledgement id")
		}
		p.HasID, p.ID, i = true, id, next
	}
	if i < len(b) {
		p.Data = b[i:]
	}
	return p, checkPayload(p.Type, p.Data)
}

// AppendSIO appends the encoding of p.
func AppendSIO(dst []byte, p SIOPacket) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type == SIOBinaryEvent || p.Type == SIOBinaryAck {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != MainNamespace {
		dst = append(append(dst, p.Namespace...), ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// checkPayload enforces the shape of the payload per packet type: an object
// (optional) for CONNECT, nothing for DISCONNECT, a non-empty array starting
// with a string for events, an array for acknowledgements, an object or a
// string for CONNECT_ERROR.
func checkPayload(t SIOType, data []byte) error {
	if data == nil {
		if t == SIOConnect || t == SIODisconnect {
			return nil
		}
		return fmt.Errorf("packet type %d: %w", t, ErrBadPayload)
	}
	var ok bool
	switch t {
	case SIOConnect:
		ok = data[0] == '{'
	case SIOEvent, SIOBinaryEvent:
		if data[0] != '[' {
			break
		}
		if j := skipSpace(data, 1); j < len(data) && data[j] == '"' {
			ok = true
		} else {
			return ErrEmptyEvent
		}
	case SIOAck, SIOBinaryAck:
		ok = data[0] == '['
	case SIOConnectError:
		ok = data[0] == '{' || data[0] == '"'
	}
	if !ok {
		return fmt.Errorf("packet type %d: %w", t, ErrBadPayload)
	}
	if !json.Valid(data) {
		return errors.New("payload is not valid JSON")
	}
	return nil
}

// parseDigits reads the decimal number starting at b[i]. It reports false
// when there is no digit or the number overflows.
func parseDigits(b []byte, i int) (n uint64, next int, ok bool) {
	start := i
	for ; i < len(b) && isDigit(b[i]); i++ {
		if n > (1<<63)/10 {
			return 0, i, false
		}
		n = n*10 + uint64(b[i]-'0')
	}
	return n, i, i > start
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
