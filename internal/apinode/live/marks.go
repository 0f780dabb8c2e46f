package live

import (
	"math"

	"github.com/counter-dev/counter/internal/socketio"
)

// noWindow is the mark of a client that was sent no window yet.
const noWindow = math.MinInt64

// marks holds, per window size and video, the clients that receive the
// original events (live_aggregations_*) of that video and size, each with
// the start of the newest window it was sent: the rule of the original
// events is that a client is never sent an older window after a newer one.
// The hub uses it under pushMu only.
type marks struct {
	bySize []map[string]map[*socketio.Conn]int64 // size index → video → client → window start
}

func newMarks(sizes int) *marks {
	m := &marks{bySize: make([]map[string]map[*socketio.Conn]int64, sizes)}
	for i := range m.bySize {
		m.bySize[i] = map[string]map[*socketio.Conn]int64{}
	}
	return m
}

// join adds c to the recipients of (size i, video), keeping its mark if it
// is one already.
func (m *marks) join(i int, video string, c *socketio.Conn) {
	rs := m.bySize[i][video]
	if rs == nil {
		rs = map[*socketio.Conn]int64{}
		m.bySize[i][video] = rs
	}
	if _, ok := rs[c]; !ok {
		rs[c] = noWindow
	}
}

// leave removes c from the recipients of (size i, video).
func (m *marks) leave(i int, video string, c *socketio.Conn) {
	rs := m.bySize[i][video]
	delete(rs, c)
	if len(rs) == 0 {
		delete(m.bySize[i], video)
	}
}

// of returns the recipients of (size i, video) and their marks; the caller
// may update the marks in it.
func (m *marks) of(i int, video string) map[*socketio.Conn]int64 { return m.bySize[i][video] }

// mark returns the newest window start c was sent for (size i, video), or
// noWindow.
func (m *marks) mark(i int, video string, c *socketio.Conn) int64 {
	if w, ok := m.bySize[i][video][c]; ok {
		return w
	}
	return noWindow
}

// set notes that c was sent the window starting at start for (size i,
// video), if c is a recipient of it.
func (m *marks) set(i int, video string, c *socketio.Conn, start int64) {
	if rs := m.bySize[i][video]; rs != nil {
		if _, ok := rs[c]; ok {
			rs[c] = start
		}
	}
}
