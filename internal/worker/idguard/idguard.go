// Package idguard keeps two live workers from sharing a worker id. The id
// names a worker's transactional id (topics.WorkerTransactionalID), so a
// second live worker with the same id fences the first one's producer, the
// first one's restart fences the second, and so on: neither counts for
// long. Kafka cannot tell a live member of a group from one that died a
// moment ago until its session expires, so the rule is:
//
//   - A member of the workers' group with this worker's client id
//     (counter-worker-<id>) that connects from an address of this machine
//     is taken for this worker's previous run: a restart after a crash (its
//     session not expired yet) or a stop (static membership keeps the
//     slot). The worker starts at once. Should it be another live worker
//     on this machine instead (with another state dir: the same one is
//     refused by its lock), that one is fenced by this start and stops
//     with a DuplicateError (the last rule).
//   - A member with this client id from another machine is either a run
//     that crashed there (a rescheduled pod) or another live worker: the
//     worker waits for it to leave the group. In a stable group, a crashed
//     run's session expires within the session timeout; a member still
//     there after the group has been stable for the session timeout plus a
//     margin is live, and the worker refuses to start with a
//     DuplicateError. While the group rebalances (other workers joining or
//     leaving), a crashed member can stay listed until the rebalance
//     timeout ends the rebalance without it, so the worker waits on, up to
//     the rebalance timeout more. Its partitions were held until then
//     anyway: nothing is lost by waiting.
//   - After its producer was fenced (or its static slot taken) while
//     running, a worker takes no shortcut: any member with its client id is
//     waited for the same way, so that of two live workers with the same
//     id on one machine, the one the other fenced stops.
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
	// ID is the worker id.
	ID string
	// SessionTimeout is the workers' session timeout: how long the
	// session of a crashed run may outlive it in a stable group.
	SessionTimeout time.Duration
	// RebalanceTimeout is the workers' rebalance timeout: how long a
	// rebalance may keep a crashed member listed (DefaultRebalanceTimeout
	// if zero).
	RebalanceTimeout time.Duration
	// Poll is how often the group is described while waiting (250ms if
	// zero).
	Poll time.Duration
	// LocalHost reports whether an IP is one of this machine's (the
	// machine's interface addresses if nil).
	LocalHost func(ip net.IP) bool
	// Logger receives the waiting notice; slog.Default() if nil.
	Logger *slog.Logger
}

// DefaultRebalanceTimeout is the workers' rebalance timeout (franz-go's
// default, which they keep).
const DefaultRebalanceTimeout = time.Minute

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
// in the group while it is stable for the session timeout and a margin (or
// past the rebalance timeout more), or the error of describing the group.
func Wait(ctx context.Context, adm *kadm.Client, cfg Config, strict bool) error {
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.RebalanceTimeout <= 0 {
		cfg.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if cfg.LocalHost == nil {
		cfg.LocalHost = machineIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	began := time.Now()
	settle := cfg.SessionTimeout + max(2*time.Second, cfg.SessionTimeout/5)
	deadline := began.Add(settle + cfg.RebalanceTimeout)
	var stableSince time.Time // since when the group has been seen stable
	logged := false
	for {
		state, members, err := sameID(ctx, adm, cfg)
		if err != nil {
			return err
		}
		others := members[:0]
		for _, m := range members {
			if strict || !fromThisMachine(m, cfg) {
				others = append(others, m)
			}
		}
		if len(others) == 0 {
			return nil
		}
		m := others[0]
		now := time.Now()
		if state != "Stable" {
			stableSince = time.Time{}
		} else if stableSince.IsZero() {
			stableSince = now
		}
		if (!stableSince.IsZero() && now.Sub(stableSince) >= settle) || !now.Before(deadline) {
			return &DuplicateError{ID: cfg.ID, Group: cfg.Group, Member: m.MemberID, Host: m.ClientHost, InstanceID: deref(m.InstanceID), Waited: time.Since(began)}
		}
		if !logged {
			cfg.Logger.Warn("a member of the group already has this worker's id: waiting for its session to expire (a run that crashed) or refusing to start (another live worker with the same --id)",
				"worker", cfg.ID, "member", m.MemberID, "host", m.ClientHost, "group_state", state, "settle", settle)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Poll):
		}
	}
}

// sameID returns the group's state and its members with the worker's
// client id.
func sameID(ctx context.Context, adm *kadm.Client, cfg Config) (string, []kadm.DescribedGroupMember, error) {
	described, err := adm.DescribeGroups(ctx, cfg.Group)
	if err != nil {
		return "", nil, fmt.Errorf("describing group %s: %w", cfg.Group, err)
	}
	g, ok := described[cfg.Group]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return "", nil, nil
	}
	if g.Err != nil {
		return "", nil, fmt.Errorf("describing group %s: %w", cfg.Group, g.Err)
	}
	var out []kadm.DescribedGroupMember
	for _, m := range g.Members {
		if m.ClientID == topics.WorkerClientIDPrefix+cfg.ID {
			out = append(out, m)
		}
	}
	return g.State, out, nil
}

// fromThisMachine reports whether m connects from an address of this
// machine.
func fromThisMachine(m kadm.DescribedGroupMember, cfg Config) bool {
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
