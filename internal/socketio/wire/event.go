package wire

import (
	"encoding/json"
	"fmt"
)

// ParseEvent splits the payload of an EVENT packet, ["name", args...], into
// the event name and its arguments. The arguments are copies.
func ParseEvent(data []byte) (name string, args []json.RawMessage, err error) {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return "", nil, fmt.Errorf("event payload: %w", err)
	}
	if len(items) == 0 {
		return "", nil, ErrEmptyEvent
	}
	if err := json.Unmarshal(items[0], &name); err != nil {
		return "", nil, ErrEmptyEvent
	}
	return name, items[1:], nil
}

// AppendEventData appends the JSON array [name, args...], the payload of an
// EVENT packet.
func AppendEventData(dst []byte, name string, args []any) ([]byte, error) {
	b, err := json.Marshal(name)
	if err != nil {
		return dst, err
	}
	dst = append(append(dst, '['), b...)
	for i, a := range args {
		if dst, err = appendJSON(append(dst, ','), a); err != nil {
			return dst, fmt.Errorf("argument %d: %w", i, err)
		}
	}
	return append(dst, ']'), nil
}

// AppendArray appends the JSON array of values, the payload of an ACK packet.
// Nil values encode as [].
func AppendArray(dst []byte, values []any) ([]byte, error) {
	dst = append(dst, '[')
	for i, v := range values {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendJSON(dst, v); err != nil {
			return dst, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return append(dst, ']'), nil
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}
