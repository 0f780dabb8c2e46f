package socketio

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Server. Zero fields take the defaults documented on
// each field.
type Options struct {
	// Path is where the handler answers, "/socket.io/" by default, as
	// socket.io clients expect. The path without its trailing slash is
	// accepted too.
	Path string

	// PingInterval is how often the server pings each client (25s).
	PingInterval time.Duration
	// PingTimeout is how long a client has to answer a ping before it is
	// dropped (20s).
	PingTimeout time.Duration

	// MaxPayload is the largest WebSocket message or polling request body a
	// client may send, in bytes (1e6). A client that sends more is closed.
	MaxPayload int64

	// MaxRoomsPerConn bounds the rooms one connection may join (1000).
	MaxRoomsPerConn int

	// SendQueueSize is how many packets may wait to be written to one client
	// (1024). A client whose queue is full is dropped, so that a slow client
	// never holds up broadcasts to the others.
	SendQueueSize int

	// WriteTimeout bounds one write to a client: a WebSocket batch or a
	// polling response (10s). A client that does not read is dropped.
	WriteTimeout time.Duration

	// UpgradeTimeout bounds the polling to WebSocket upgrade, from the
	// WebSocket handshake to the "upgrade" packet (10s).
	UpgradeTimeout time.Duration

	// ConnectTimeout is how long a new session has to connect to the main
	// namespace before it is closed (45s).
	ConnectTimeout time.Duration

	// AllowedOrigins lists host patterns (path.Match syntax, e.g.
	// "*.example.com", or "https://example.com" to also match the scheme) of
	// the browser origins allowed besides the server's own host. Requests
	// without an Origin header are always allowed.
	AllowedOrigins []string

	// Registerer receives the Prometheus metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Default values of Options.
const (
	DefaultPath            = "/socket.io/"
	DefaultPingInterval    = 25 * time.Second
	DefaultPingTimeout     = 20 * time.Second
	DefaultMaxPayload      = 1_000_000
	DefaultMaxRoomsPerConn = 1000
	DefaultSendQueueSize   = 1024
	DefaultWriteTimeout    = 10 * time.Second
	DefaultUpgradeTimeout  = 10 * time.Second
	DefaultConnectTimeout  = 45 * time.Second
)

// withDefaults returns o with zero (or negative) fields set to defaults.
func (o Options) withDefaults() Options {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.Path[len(o.Path)-1] != '/' {
		o.Path += "/"
	}
	if o.Path[0] != '/' {
		o.Path = "/" + o.Path
	}
	setDuration(&o.PingInterval, DefaultPingInterval)
	setDuration(&o.PingTimeout, DefaultPingTimeout)
	setDuration(&o.WriteTimeout, DefaultWriteTimeout)
	setDuration(&o.UpgradeTimeout, DefaultUpgradeTimeout)
	setDuration(&o.ConnectTimeout, DefaultConnectTimeout)
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.MaxRoomsPerConn <= 0 {
		o.MaxRoomsPerConn = DefaultMaxRoomsPerConn
	}
	if o.SendQueueSize <= 0 {
		o.SendQueueSize = DefaultSendQueueSize
	}
	return o
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
