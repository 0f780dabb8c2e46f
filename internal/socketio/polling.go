package socketio

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/counter-dev/counter/internal/socketio/wire"
)

// handshakePolling opens a long-polling session: the answer is the open
// packet.
func (srv *Server) handshakePolling(w http.ResponseWriter) {
	s := newSession(srv, transportPolling)
	if !srv.addSession(s) {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	s.start()
	srv.log.Debug("socketio: session opened", "sid", s.id, "transport", "polling")
	_ = writeText(w, http.StatusOK, openPacket(s.id, []string{"websocket"}, &srv.opts))
}

// servePoll answers a poll (GET) with what is queued, waiting until there is
// something. The client may have one poll at a time.
func (s *session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.transport != transportPolling {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	if s.polling {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest)
		s.fail(protocolError("overlapping polls"))
		return
	}
	s.polling = true
	s.mu.Unlock()

	batch, sealed, ok := s.awaitPoll(r)
	// The client polls again as soon as it has the answer, maybe on another
	// connection, maybe before this handler returns: the poll is over now.
	s.mu.Lock()
	s.polling = false
	s.mu.Unlock()
	if !ok {
		return
	}
	// The close packet of a graceful close goes alone, in the poll after
	// the last batch: socket.io clients handle a close packet before the
	// packets that came with it.
	closing := sealed && len(batch) == 0
	if closing {
		batch = append(batch, closePacket)
	}
	body := wire.AppendPayload(nil, batch)
	// The deadline covers this write only: net/http does not reset it for
	// the next request on the connection unless its WriteTimeout is set.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.srv.opts.WriteTimeout))
	err := writeText(w, http.StatusOK, body)
	if err == nil {
		err = rc.Flush()
	}
	_ = rc.SetWriteDeadline(time.Time{})
	if err != nil {
		s.close(ReasonTransportError)
		return
	}
	s.srv.metrics.sent.Add(float64(countMessages(batch)))
	if closing {
		s.close(ReasonServerDisconnect) // the reason of the shutdown wins
	}
}

// awaitPoll waits for packets to answer a poll with. It returns the batch,
// whether the outbox is sealed (a graceful close is under way), and false
// when the request is to be abandoned.
func (s *session) awaitPoll(r *http.Request) (batch [][]byte, sealed, ok bool) {
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return [][]byte{closePacket}, false, true
		case s.transport != transportPolling:
			s.mu.Unlock()
			return [][]byte{noopPacket}, false, true
		}
		// Taken under s.mu so that no batch is taken by a poll once the
		// WebSocket writer owns the queue.
		batch, sealed = s.out.take(nil)
		upgrading := s.upgrading
		s.mu.Unlock()
		switch {
		case len(batch) > 0 || sealed:
			return batch, sealed, true
		case upgrading:
			return [][]byte{noopPacket}, false, true
		}
		select {
		case <-s.out.wake:
		case <-s.done:
		case <-r.Context().Done():
			return nil, false, false
		}
	}
}

// servePost handles the packets the client posts. The client may have one
// post at a time.
func (s *session) servePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.transport != transportPolling {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	if s.posting {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest)
		s.fail(protocolError("overlapping posts"))
		return
	}
	s.posting = true
	s.mu.Unlock()

	err := s.handlePost(w, r)
	// The client may post again as soon as it has the answer.
	s.mu.Lock()
	s.posting = false
	s.mu.Unlock()
	if err == errClientClosed {
		s.close(err.reason)
		err = nil
	}
	if err != nil {
		status := http.StatusBadRequest
		if err.reason == ReasonPayloadTooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, codeBadRequest)
		s.fail(err)
		return
	}
	_ = writeText(w, http.StatusOK, []byte("ok"))
}

func (s *session) handlePost(w http.ResponseWriter, r *http.Request) *closeError {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/octet-stream" {
		return protocolError("binary payloads are not supported")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.srv.opts.MaxPayload))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &closeError{reason: ReasonPayloadTooLarge, drop: DropPayloadTooLarge, err: err}
		}
		return &closeError{reason: ReasonTransportError, err: err}
	}
	packets, err := wire.ParsePayload(body)
	if err != nil {
		return protocolError("bad payload: %w", err)
	}
	for _, p := range packets {
		if err := s.handlePacket(p); err != nil {
			return err
		}
	}
	return nil
}
