package apinode

import (
	"strings"
	"testing"
	"time"

	"github.com/counter-dev/counter/internal/testkit"
)

// An API instance restarts under npm socket.io-client sockets that
// reconnect by themselves and register their rooms again, as a page does:
// each gets its snapshots again, from a complete view, and then the live
// counts; what a socket sees across the restart never goes back (no older
// window in the original events, no smaller count of a window, which a
// snapshot of a view still loading would show), and the window events end
// with the finals of the output topics.
func TestSocketIOClientsReconnectAfterRestart(t *testing.T) {
	p := startPipeline(t, time.Second, "4s", "8s")
	api := p.startAPI("api-1")
	p.warmUp(api)
	rooms := []string{"again-a", "again-b"}
	nc := startNodeClients(t, liveConfig{
		Clients:   []liveClient{{api.url, []string{"websocket"}}, {api.url, []string{"polling"}}},
		Rooms:     rooms,
		Windows:   windowsOf(p.pol.Sizes),
		Reconnect: true,
	})
	want := map[testkit.Key]uint64{}
	like := func(in *instance, rounds int) {
		for range rounds {
			for i, id := range rooms {
				ts := in.postLikes(t, id, i+1)
				for range i + 1 {
					testkit.Expect(want, p.pol, id, ts)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	like(api, 5)
	api.close()
	again := p.startAPIAt("api-2", strings.TrimPrefix(api.url, "http://"))
	for range 2 {
		t.Logf("client %s", nc.expect("RECONNECTED", 20*time.Second))
	}
	like(again, 10)
	p.waitFinals(want)
	time.Sleep(300 * time.Millisecond) // the last pushes
	results := nc.finish()
	for _, r := range results {
		reconnected := false
		for _, e := range r.Events {
			reconnected = reconnected || e.Conn == 1
		}
		if !reconnected {
			t.Errorf("%s client: no events after the reconnection", r.Transport)
		}
		checkClient(t, r, p.pol, want, rooms)
	}
}
