package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/cli"
	"github.com/counter-dev/counter/internal/httpserve"
)

// httpFlags secure the HTTP API: the admin token, the limits against slow
// and oversized clients, and the rate limit of likes.
type httpFlags struct {
	adminToken, adminTokenFile string

	readHeader, read, write, idle time.Duration
	maxHeader                     cli.ByteSize

	likeRate       float64
	likeBurst      int
	trustedProxies []string
}

func (h *httpFlags) register(fs *cli.FlagSet) {
	fs.StringVar(&h.adminToken, "admin-token", "", "bearer token the routes that change state other than a like need (add a video, start or cancel a generator run); empty leaves them open. Prefer the environment variable or --admin-token-file: a command line is visible to other users")
	fs.StringVar(&h.adminTokenFile, "admin-token-file", "", "file holding the admin token (its first line)")
	d := httpserve.DefaultLimits()
	fs.DurationVar(&h.readHeader, "http-read-header-timeout", d.ReadHeaderTimeout, "time a client has to send a request's headers (against slowloris)")
	fs.DurationVar(&h.read, "http-read-timeout", d.ReadTimeout, "time a client has to send a request's body after its headers (408 beyond)")
	fs.DurationVar(&h.write, "http-write-timeout", d.WriteTimeout, "time a client has to read a response, from its first byte (long polls and WebSockets are not cut)")
	fs.DurationVar(&h.idle, "http-idle-timeout", d.IdleTimeout, "how long an idle keep-alive connection is kept")
	h.maxHeader = cli.ByteSize(d.MaxHeaderBytes)
	fs.Var(&h.maxHeader, "http-max-header-bytes", "largest request line and headers (431 beyond)")
	fs.Float64Var(&h.likeRate, "like-rate-limit", 0, "likes a second each client (IP address, IPv6 /64) may send; 429 with Retry-After beyond; 0 disables")
	fs.IntVar(&h.likeBurst, "like-rate-burst", 0, "likes a client may send at once (0: ten seconds of --like-rate-limit)")
	fs.ListVar(&h.trustedProxies, "trusted-proxies", nil, "CIDRs of reverse proxies whose X-Forwarded-For names the client, comma-separated (e.g. 10.0.0.0/8)")
}

// limits returns the HTTP server's limits, or a usage error.
func (h *httpFlags) limits() (httpserve.Limits, error) {
	l := httpserve.Limits{ReadHeaderTimeout: h.readHeader, ReadTimeout: h.read, WriteTimeout: h.write, IdleTimeout: h.idle}
	if h.maxHeader > 16<<20 {
		return l, cli.UsageError{Err: errors.New("--http-max-header-bytes: at most 16MiB")}
	}
	l.MaxHeaderBytes = int(h.maxHeader)
	if err := l.Check(); err != nil {
		return l, cli.UsageError{Err: fmt.Errorf("--http-*: %w", err)}
	}
	return l, nil
}

// token returns the admin token from --admin-token or --admin-token-file
// ("" if neither is set).
func (h *httpFlags) token() (string, error) {
	tok := h.adminToken
	switch {
	case h.adminToken != "" && h.adminTokenFile != "":
		return "", cli.UsageError{Err: errors.New("--admin-token and --admin-token-file are both set: give one")}
	case h.adminTokenFile != "":
		b, err := os.ReadFile(h.adminTokenFile)
		if err != nil {
			return "", cli.UsageError{Err: fmt.Errorf("--admin-token-file: %w", err)}
		}
		tok, _, _ = strings.Cut(string(b), "\n")
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return "", cli.UsageError{Err: fmt.Errorf("--admin-token-file %s: the first line is empty", h.adminTokenFile)}
		}
	case tok == "":
		return "", nil
	}
	if err := api.CheckAdminToken(tok); err != nil {
		return "", cli.UsageError{Err: fmt.Errorf("admin token: %w", err)} // never the token itself
	}
	return tok, nil
}

// likeLimit returns the rate limit of likes, or a usage error.
func (h *httpFlags) likeLimit() (api.LikeLimit, error) {
	l := api.LikeLimit{Rate: h.likeRate, Burst: h.likeBurst}
	if h.likeRate < 0 || h.likeRate > 1e9 || h.likeRate != h.likeRate {
		return l, cli.UsageError{Err: fmt.Errorf("--like-rate-limit %v: want 0 (off) or a positive number of likes a second", h.likeRate)}
	}
	if h.likeBurst < 0 {
		return l, cli.UsageError{Err: fmt.Errorf("--like-rate-burst %d: must not be negative", h.likeBurst)}
	}
	for _, s := range h.trustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s) // a single address
			if aerr != nil {
				return l, cli.UsageError{Err: fmt.Errorf("--trusted-proxies: %q is not a CIDR (10.0.0.0/8) or an address", s)}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		l.TrustedProxies = append(l.TrustedProxies, p.Masked())
	}
	return l, nil
}
