package socketio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/counter-dev/counter/internal/socketio"
)

// BenchmarkBroadcastWebSocket broadcasts to 1000 real WebSocket clients in
// this process, each in 10 rooms, and reports the messages delivered per
// second. The clients' reading shares the CPUs with the server, so the
// figure understates what the server alone sustains; run with -cpu 2 to
// match a 2-core deployment.
func BenchmarkBroadcastWebSocket(b *testing.B) {
	for _, rooms := range []int{1000, 100} {
		b.Run(fmt.Sprintf("clients=1000/rooms=%d", rooms), func(b *testing.B) {
			benchmarkBroadcast(b, 1000, rooms)
		})
	}
}

func benchmarkBroadcast(b *testing.B, clients, rooms int) {
	srv := socketio.NewServer(socketio.Options{SendQueueSize: 1 << 16, PingInterval: time.Hour}, nil)
	conns := make(chan *socketio.Conn, clients)
	srv.OnConnect(func(c *socketio.Conn) { conns <- c })
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	var received atomic.Int64
	var expected atomic.Int64
	expected.Store(-1)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	for i := range clients {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(ctx); err != nil { // open
			b.Fatal(err)
		}
		if err := ws.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil { // CONNECT answer
			b.Fatal(err)
		}
		c := <-conns
		for j := range 10 {
			if err := c.Join(fmt.Sprint("video-", (i*10+j)%rooms)); err != nil {
				b.Fatal(err)
			}
		}
		go func() {
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
				if n := received.Add(1); n == expected.Load() {
					close(done)
				}
			}
		}()
	}
	total := int64(0)
	for i := range b.N {
		total += int64(srv.RoomSize(fmt.Sprint("video-", i%rooms)))
	}
	payload := map[string]any{"video": "video-1", "likes": 123456}
	b.ResetTimer()
	start := time.Now()
	expected.Store(total)
	for i := range b.N {
		if err := srv.BroadcastTo(fmt.Sprint("video-", i%rooms), "count", payload); err != nil {
			b.Fatal(err)
		}
	}
	if received.Load() < total {
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatalf("received %d of %d messages", received.Load(), total)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "broadcasts/s")
	if srv.ConnCount() != clients {
		b.Fatalf("%d clients dropped", clients-srv.ConnCount())
	}
}
