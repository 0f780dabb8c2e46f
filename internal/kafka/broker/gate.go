package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
)

// gate is the listener of one broker node. Until it is opened, it hands
// kfake only the broker's own in-process connections (dial): the start-up
// recovery talks to the broker through them while every outside client
// waits in the kernel's accept queue, so no client is served before the log
// is repaired. Addr is the address the node advertises to clients. With a
// TLS configuration, outside connections speak TLS; the in-process ones,
// which never leave the process, do not.
type gate struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tls.Config
	conns     chan net.Conn
	opened    chan struct{}
	openOnce  sync.Once
	closed    chan struct{}
	stop      sync.Once
}

func newGate(ln net.Listener, advertise net.Addr, tc *tls.Config) *gate {
	return &gate{ln: ln, advertise: advertise, tls: tc, conns: make(chan net.Conn), opened: make(chan struct{}), closed: make(chan struct{})}
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

// dial connects to the node in process, whether or not the gate is open.
func (g *gate) dial(ctx context.Context) (net.Conn, error) {
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

// Addr implements net.Listener: the advertised address, which kfake hands
// to clients in its metadata.
func (g *gate) Addr() net.Addr { return g.advertise }

// port is the port the node really listens on.
func (g *gate) port() int { return g.ln.Addr().(*net.TCPAddr).Port }

// gates are the listeners of a cluster's nodes, in node order.
type gates struct {
	listenHost    string // host or IP to listen on
	advertiseHost string // host advertised; the listen host if empty
	advertisePort int    // first advertised port; 0: each node's listen port
	tls           *tls.Config

	mu   sync.Mutex
	list []*gate
}

// listen is kfake's ListenFn, called once per node: kfake asks for
// 127.0.0.1:port; the node listens on the configured host instead, behind
// a closed gate, and advertises its advertised address.
func (gs *gates) listen(network, address string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, net.JoinHostPort(gs.listenHost, port))
	if err != nil {
		return nil, err
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	host := gs.advertiseHost
	if host == "" {
		host = gs.listenHost
	}
	p := ln.Addr().(*net.TCPAddr).Port
	if gs.advertisePort > 0 {
		p = gs.advertisePort + len(gs.list)
	}
	g := newGate(ln, advertised(net.JoinHostPort(host, strconv.Itoa(p))), gs.tls)
	gs.list = append(gs.list, g)
	return g, nil
}

// all returns the nodes' gates.
func (gs *gates) all() []*gate {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return append([]*gate(nil), gs.list...)
}

// open lets outside clients in on every node.
func (gs *gates) open() {
	for _, g := range gs.all() {
		g.open()
	}
}

// dial is a kgo.Dialer connecting in process to the node advertising
// address (the first node for an unknown address).
func (gs *gates) dial(ctx context.Context, _, address string) (net.Conn, error) {
	all := gs.all()
	if len(all) == 0 {
		return nil, net.ErrClosed
	}
	for _, g := range all {
		if g.advertise.String() == address {
			return g.dial(ctx)
		}
	}
	return all[0].dial(ctx)
}

// ports returns the port each node listens on.
func (gs *gates) ports() []int {
	var ps []int
	for _, g := range gs.all() {
		ps = append(ps, g.port())
	}
	return ps
}

// advertised is an advertised host:port.
type advertised string

func (a advertised) Network() string { return "tcp" }
func (a advertised) String() string  { return string(a) }
