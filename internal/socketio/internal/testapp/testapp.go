// Package testapp is the small Socket.IO application the Node.js client tests
// in test/socketio run against, in-process from go test or standalone from
// the testserver command.
//
// Events (each acknowledged when the client asks):
//
//	register_room {"rooms":[...]}                 joins every room; ack {"rooms":[all rooms]} or {"error":...}
//	echo args...                                   ack args...
//	broadcast {"room":r,"event":e,"data":d}       BroadcastTo(r, e, d); ack {"ok":true}
//	kick                                           the server closes the connection
//
// HTTP endpoints besides the Socket.IO path:
//
//	GET /test/disconnect?id=ID   waits (up to 10s) until connection ID is gone; {"reason":...}
package testapp

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/counter-dev/counter/internal/socketio"
)

// App is the test application.
type App struct {
	// Server is the Socket.IO server.
	Server *socketio.Server
	// Handler serves Server at its path and the /test/ endpoints.
	Handler http.Handler

	mu          sync.Mutex
	disconnects map[string]string        // id → reason
	gone        map[string]chan struct{} // id → closed when disconnected
}

// New returns the application with a server configured by opts.
func New(opts socketio.Options, log *slog.Logger) *App {
	a := &App{
		Server:      socketio.NewServer(opts, log),
		disconnects: make(map[string]string),
		gone:        make(map[string]chan struct{}),
	}
	a.Server.OnDisconnect(a.onDisconnect)
	a.Server.OnEvent("register_room", registerRoom)
	a.Server.OnEvent("echo", func(_ *socketio.Conn, args []json.RawMessage) []any { return raw(args) })
	a.Server.OnEvent("broadcast", a.broadcast)
	a.Server.OnEvent("kick", func(c *socketio.Conn, _ []json.RawMessage) []any {
		c.Close()
		return nil
	})
	mux := http.NewServeMux()
	mux.Handle(a.Server.Path(), a.Server)
	mux.HandleFunc("GET /test/disconnect", a.waitDisconnect)
	a.Handler = mux
	return a
}

func registerRoom(c *socketio.Conn, args []json.RawMessage) []any {
	var req struct {
		Rooms []string `json:"rooms"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &req) != nil {
		return []any{map[string]string{"error": `expected {"rooms":[...]}`}}
	}
	for _, room := range req.Rooms {
		if err := c.Join(room); err != nil {
			return []any{map[string]string{"error": err.Error()}}
		}
	}
	return []any{map[string]any{"rooms": c.Rooms()}}
}

func (a *App) broadcast(_ *socketio.Conn, args []json.RawMessage) []any {
	var req struct {
		Room  string          `json:"room"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &req) != nil {
		return []any{map[string]string{"error": `expected {"room","event","data"}`}}
	}
	if err := a.Server.BroadcastTo(req.Room, req.Event, req.Data); err != nil {
		return []any{map[string]string{"error": err.Error()}}
	}
	return []any{map[string]bool{"ok": true}}
}

func (a *App) onDisconnect(c *socketio.Conn, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.disconnects[c.ID()] = reason
	close(a.goneLocked(c.ID()))
}

func (a *App) goneLocked(id string) chan struct{} {
	ch := a.gone[id]
	if ch == nil {
		ch = make(chan struct{})
		a.gone[id] = ch
	}
	return ch
}

func (a *App) waitDisconnect(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	a.mu.Lock()
	ch := a.goneLocked(id)
	a.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		http.Error(w, "no disconnect of "+id, http.StatusGatewayTimeout)
		return
	case <-r.Context().Done():
		return
	}
	a.mu.Lock()
	reason := a.disconnects[id]
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"reason": reason})
}

func raw(args []json.RawMessage) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
