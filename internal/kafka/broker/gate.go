package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
)

// gate is the broker's listener. Until it is opened, it hands kfake only
// the broker's own in-process connections (dial): the start-up recovery
// talks to the broker through them while every outside client waits in the
// kernel's accept queue, so no client is served before the log is repaired.
// With a TLS configuration, outside connections speak TLS; the in-process
// ones, which never leave the process, do not.
type gate struct {
	ln       net.Listener
	tls      *tls.Config
	conns    chan net.Conn
	opened   chan struct{}
	openOnce sync.Once
	closed   chan struct{}
	stop     sync.Once
}

func newGate(tc *tls.Config) *gate {
	return &gate{tls: tc, conns: make(chan net.Conn), opened: make(chan struct{}), closed: make(chan struct{})}
}

// listen is kfake's ListenFn: it opens the real listener behind the gate.
func (g *gate) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	g.ln = ln
	return g, nil
}

// open lets outside clients in.
func (g *gate) open() {
	g.openOnce.Do(func() {
		close(g.opened)
		go func() {
			for {
				c, err := g.ln.Accept()
				if err != nil {
					return
				}
				if g.tls != nil {
					c = tls.Server(c, g.tls) // the handshake runs at kfake's first read
				}
				select {
				case g.conns <- c:
				case <-g.closed:
					c.Close()
					return
				}
			}
		}()
	})
}

// dial connects to the broker in process, whether or not the gate is open;
// it is a kgo.Dialer.
func (g *gate) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case g.conns <- server:
		return client, nil
	case <-g.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Accept implements net.Listener.
func (g *gate) Accept() (net.Conn, error) {
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (g *gate) Close() error {
	var err error
	g.stop.Do(func() {
		close(g.closed)
		err = g.ln.Close()
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Addr implements net.Listener.
func (g *gate) Addr() net.Addr { return g.ln.Addr() }
