// Package idguard keeps two live workers from sharing a worker id. The id
// names a worker's transactional id (topics.WorkerTransactionalID), so a
// second live worker with the same id fences the first one's producer, the
// first one's restart fences the second, and so on: neither counts for
// long. Kafka cannot tell a live member of a group from one that died a
// moment ago until its session expires, so the rule is:
//
//   - A member of the workers' group with this worker's client id
//     (counter-worker-<id>) that has this worker's static instance id and
//     connects from an address of this machine is this worker's own slot,
//     kept by static membership across a restart: the worker starts at
//     once, and its join takes the slot over.
//   - Any other member with this client id is either a previous run that
//     crashed (its session has not expired yet) or another live worker: the
//     worker waits for it to leave the group, up to its session timeout
//     plus a margin. A crashed run's session expires by then (its
//     partitions were held until then anyway); a member still there is
//     live, and the worker refuses to start with a DuplicateError.
//   - After its producer was fenced while running, a worker takes no
//     shortcut: any member with its client id is waited for, so that of two
//     live workers with the same static instance id on one machine (which
//     look like a restart to each other), the fenced one stops.
package idguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// Config describes the worker about to start.
type Config struct {
	// Group is the workers' consumer group.
	Group string
	// ID is the worker id; InstanceID its static membership id, if any.
	ID, InstanceID string
	// SessionTimeout is the workers' session timeout: how long the
	// session of a crashed run may outlive it.
	SessionTimeout time.Duration
	// Poll is how often the group is described while waiting (250ms if
	// zero).
	Poll time.Duration
	// LocalHost reports whether an IP is one of this machine's (the
	// machine's interface addresses if nil).
	LocalHost func(ip net.IP) bool
	// Logger receives the waiting notice; slog.Default() if nil.
	Logger *slog.Logger
}

// DuplicateError says another live worker uses the same id.
type DuplicateError struct {
	ID, Group string
	// Member, Host and InstanceID describe the other worker's membership.
	Member, Host, InstanceID string
	// Waited is how long it stayed in the group while this one waited.
	Waited time.Duration
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("another worker with --id %s is running (member %s of group %s, from %s, still there after %v): give each worker its own --id",
		e.ID, e.Member, e.Group, e.Host, e.Waited.Round(100*time.Millisecond))
}

// Fenced reports whether err says that another producer with the same
// transactional id, or another member with the same instance id, took over.
func Fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.FencedInstanceID)
}

// Wait returns nil once no other live member of the group uses cfg.ID (see
// the package comment; strict after a fence), a *DuplicateError if one stays
// past the session timeout and a margin, or the error of describing the
// group.
func Wait(ctx context.Context, adm *kadm.Client, cfg Config, strict bool) error {
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.LocalHost == nil {
		cfg.LocalHost = machineIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	began := time.Now()
	deadline := began.Add(cfg.SessionTimeout + max(2*time.Second, cfg.SessionTimeout/5))
	logged := false
	for {
		members, err := sameID(ctx, adm, cfg)
		if err != nil {
			return err
		}
		others := members[:0]
		for _, m := range members {
			if strict || !ownSlot(m, cfg) {
				others = append(others, m)
			}
		}
		if len(others) == 0 {
			return nil
		}
		m := others[0]
		if !time.Now().Before(deadline) {
			return &DuplicateError{ID: cfg.ID, Group: cfg.Group, Member: m.MemberID, Host: m.ClientHost, InstanceID: deref(m.InstanceID), Waited: time.Since(began)}
		}
		if !logged {
			cfg.Logger.Warn("a member of the group already has this worker's id: waiting for its session to expire (a run that crashed) or refusing to start (another live worker with the same --id)",
				"worker", cfg.ID, "member", m.MemberID, "host", m.ClientHost, "up_to", time.Until(deadline).Round(100*time.Millisecond))
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Poll):
		}
	}
}

// sameID returns the members of the group with the worker's client id.
func sameID(ctx context.Context, adm *kadm.Client, cfg Config) ([]kadm.DescribedGroupMember, error) {
	described, err := adm.DescribeGroups(ctx, cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("describing group %s: %w", cfg.Group, err)
	}
	g, ok := described[cfg.Group]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil, nil
	}
	if g.Err != nil {
		return nil, fmt.Errorf("describing group %s: %w", cfg.Group, g.Err)
	}
	var out []kadm.DescribedGroupMember
	for _, m := range g.Members {
		if m.ClientID == topics.WorkerClientIDPrefix+cfg.ID {
			out = append(out, m)
		}
	}
	return out, nil
}

// ownSlot reports whether m is this worker's static slot: its instance id,
// from this machine.
func ownSlot(m kadm.DescribedGroupMember, cfg Config) bool {
	if cfg.InstanceID == "" || deref(m.InstanceID) != cfg.InstanceID {
		return false
	}
	ip := clientIP(m.ClientHost)
	return ip != nil && cfg.LocalHost(ip)
}

// clientIP parses a member's client host: "/10.0.0.7" (Kafka) or
// "10.0.0.7:53412" (kfake).
func clientIP(host string) net.IP {
	host = strings.TrimPrefix(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return net.ParseIP(host)
}

// machineIP reports whether ip is an address of one of this machine's
// interfaces.
func machineIP(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
