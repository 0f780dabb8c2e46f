// Package httpserve builds the HTTP servers of every counter process (the
// API and the ops endpoints of workers and brokers) with limits against
// slow, idle and oversized clients, and serves the ops endpoints: /metrics,
// /healthz and /readyz.
package httpserve

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Limits bound what one client can hold of an HTTP server.
type Limits struct {
	// ReadHeaderTimeout bounds the time to read a request's headers; a
	// client slower than that (slowloris) is disconnected.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a request's body, from the end
	// of its headers; a slower client gets 408 or is disconnected. Unlike
	// http.Server.ReadTimeout, it does not cancel the request once the body
	// is read, so a handler may take longer (a long poll, an audit).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time to write a response, from its first
	// byte (its status line): a client that does not read is disconnected.
	// Unlike http.Server.WriteTimeout, the time a handler takes before it
	// answers does not count, and a handler that took over the connection
	// (WebSocket) or set its own deadline is not affected.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; a larger request
	// is answered 431.
	MaxHeaderBytes int
}

// Defaults of Limits.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
	}
}

// Check returns an error naming the first limit that is not positive or is
// out of range.
func (l Limits) Check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read header timeout", l.ReadHeaderTimeout}, {"read timeout", l.ReadTimeout},
		{"write timeout", l.WriteTimeout}, {"idle timeout", l.IdleTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: must be positive", d.name, d.v)
		}
	}
	if l.MaxHeaderBytes < 1<<10 || l.MaxHeaderBytes > 16<<20 {
		return errors.New("max header bytes must be between 1KiB and 16MiB")
	}
	return nil
}

// NewServer returns an http.Server for h on addr with the limits l: the
// header timeout, idle timeout and header size on the server, the read and
// write timeouts per request (see Limits). Its errors (such as TLS
// handshake failures) are logged to log at warn level; slog.Default() if
// log is nil.
func NewServer(addr string, h http.Handler, l Limits, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           Deadlines(h, l.ReadTimeout, l.WriteTimeout),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
