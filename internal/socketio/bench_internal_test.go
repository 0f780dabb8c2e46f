package socketio

import (
	"fmt"
	"testing"
)

// BenchmarkBroadcastTo measures the fan-out alone (encode once, push to each
// member's queue): 1000 connections in 10 rooms each, out of 1000 rooms, so
// about 10 members a room. Nothing is written to a network.
func BenchmarkBroadcastTo(b *testing.B) {
	for _, rooms := range []int{1000, 100, 10} {
		b.Run(fmt.Sprintf("conns=1000/rooms=%d", rooms), func(b *testing.B) {
			srv := NewServer(Options{SendQueueSize: 1 << 20}, nil)
			var sessions []*session
			for i := range 1000 {
				s := newSession(srv, transportWebSocket)
				c := &Conn{id: s.id, srv: srv, s: s, rooms: make(map[string]struct{})}
				srv.attach(c)
				for j := range 10 {
					if err := c.Join(fmt.Sprint("video-", (i*10+j)%rooms)); err != nil {
						b.Fatal(err)
					}
				}
				sessions = append(sessions, s)
			}
			payload := map[string]any{"video": "video-1", "likes": 123456}
			var spare [][]byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := srv.BroadcastTo(fmt.Sprint("video-", i%rooms), "count", payload); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 {
					for _, s := range sessions {
						spare, _ = s.out.take(spare)
					}
				}
			}
			b.ReportMetric(10*1000/float64(rooms), "recipients/op")
		})
	}
}
