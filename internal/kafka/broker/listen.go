package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// maxNodes bounds Config.Nodes: an embedded cluster is for one machine.
const maxNodes = 16

// fill checks the listening part of cfg and sets its defaults.
func (cfg *Config) fill() error {
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	if cfg.Nodes < 1 || cfg.Nodes > maxNodes {
		return fmt.Errorf("%d nodes: want 1 to %d", cfg.Nodes, maxNodes)
	}
	if cfg.Port < 0 || (cfg.Port > 0 && cfg.Port+cfg.Nodes-1 > 65535) {
		return fmt.Errorf("port %d with %d nodes: out of range 0-65535", cfg.Port, cfg.Nodes)
	}
	if cfg.ListenHost == "" {
		cfg.ListenHost = DefaultListenHost
	}
	if _, err := splitAdvertise(cfg.Advertise); err != nil {
		return err
	}
	if cfg.Advertise == "" && unspecified(cfg.ListenHost) {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return errors.New("listening on every interface needs an advertised address: this machine's host name is unknown")
		}
		cfg.Advertise = host
	}
	return nil
}

// advertised returns the advertised host ("" for the listen host) and
// first port (0 for the listen ports).
func (cfg *Config) advertised() (string, int) {
	a, _ := splitAdvertise(cfg.Advertise)
	return a.host, a.port
}

type hostPort struct {
	host string
	port int
}

// splitAdvertise parses host or host:port ("" is none).
func splitAdvertise(s string) (hostPort, error) {
	if s == "" {
		return hostPort{}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// A bare host (or an IPv6 address without brackets).
		if net.ParseIP(s) != nil || !strings.Contains(s, ":") {
			return hostPort{host: s}, nil
		}
		return hostPort{}, fmt.Errorf("advertised address %q: want host or host:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || host == "" {
		return hostPort{}, fmt.Errorf("advertised address %q: want host or host:port with a port of 1-65535", s)
	}
	return hostPort{host, p}, nil
}

// unspecified reports whether host means every interface.
func unspecified(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// ports returns the ports of n nodes from first (all 0: free ports).
func ports(first, n int) []int {
	ps := make([]int, n)
	for i := range ps {
		if first > 0 {
			ps[i] = first + i
		}
	}
	return ps
}
