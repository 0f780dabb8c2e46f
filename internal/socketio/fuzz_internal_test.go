package socketio

import (
	"encoding/json"
	"testing"

	"github.com/counter-dev/counter/internal/socketio/wire"
)

// FuzzHandlePacket feeds arbitrary packets to a connected session: whatever
// the input, the server must not panic, and must either handle the packet
// or close the session.
func FuzzHandlePacket(f *testing.F) {
	for _, s := range []string{
		"2", "3", "6", "1", "5", "40", "41", `42["echo",1]`, `4212["echo",{"a":[1]}]`,
		`42["nope"]`, "40/admin,", `43[]`, `44{"message":"x"}`, `451-["echo",{"_placeholder":true,"num":0}]`,
		"bAQID", "4abc", `42abc["echo"]`, "",
	} {
		f.Add([]byte(s))
	}
	srv := NewServer(Options{}, nil)
	srv.OnEvent("echo", func(_ *Conn, args []json.RawMessage) []any {
		out := make([]any, len(args))
		for i, a := range args {
			out[i] = a
		}
		return out
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newSession(srv, transportPolling)
		if !srv.addSession(s) {
			t.Fatal("server closed")
		}
		defer s.close(ReasonTransportClose)
		if err := s.handleMessage([]byte("0")); err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
		p, err := wire.ParseEIO(b)
		if err != nil {
			return
		}
		if cerr := s.handlePacket(p); cerr != nil {
			s.fail(cerr)
		}
	})
}
