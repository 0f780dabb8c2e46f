package api

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientKey returns the address a request's likes are limited by: the
// client address (see clientAddr), IPv6 addresses reduced to their /64
// network, which one host usually has whole.
func clientKey(r *http.Request, trusted []netip.Prefix) netip.Addr {
	a := clientAddr(r, trusted)
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64) // cannot fail for an IPv6 address
		return p.Addr()
	}
	return a
}

// clientAddr returns the address of the client that sent r: its peer
// address, unless that is a trusted proxy; then, walking X-Forwarded-For
// from the right (the hop the proxy appended), the first address that is
// not a trusted proxy. Hops left of an address that does not parse cannot
// be believed: the last trusted hop stands for the client then. The zero
// Addr if the peer address does not parse.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !inAny(addr, trusted) {
		return addr
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			hop, ok := parseHop(list[j])
			if !ok {
				return addr
			}
			addr = hop
			if !inAny(addr, trusted) {
				return addr
			}
		}
	}
	return addr
}

// parseHop parses one X-Forwarded-For entry: an address, possibly with a
// port ("203.0.113.7:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func inAny(a netip.Addr, nets []netip.Prefix) bool {
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
