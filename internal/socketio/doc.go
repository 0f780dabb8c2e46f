// Package socketio is a Socket.IO server for the main namespace "/": Socket.IO
// protocol v5 over Engine.IO protocol v4, what socket.io v4 JavaScript
// clients (socket.io-client) speak.
//
// A Server is an http.Handler serving both Engine.IO transports, HTTP
// long-polling and WebSocket, including the upgrade from the first to the
// second and WebSocket-only clients. Clients join rooms; BroadcastTo sends an
// event to every connection in a room.
//
// Each session owns a bounded queue of encoded packets, written by one
// goroutine per WebSocket (or by the pending poll). Broadcasting encodes the
// event once and appends the same bytes to each recipient's queue without
// blocking; a client whose queue is full is dropped, so a slow client never
// holds up the others.
//
// Binary payloads (Socket.IO binary events, base64 polling packets) are not
// supported: a client sending one is disconnected. Namespaces other than "/"
// are refused with a CONNECT_ERROR. The server does not ask clients for
// acknowledgements.
//
// Packet encoding and decoding live in the pure sub-package wire; this
// package does the I/O: http.go routes requests, polling.go and websocket.go
// are the transports, session.go is the Engine.IO session (heartbeat,
// closing), dispatch.go the Socket.IO layer, server.go and conn.go the API.
package socketio
