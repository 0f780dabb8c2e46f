package idguard_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/testkit"
	"github.com/counter-dev/counter/internal/worker/idguard"
)

const group = "g"

func cluster(t *testing.T) ([]string, *kadm.Client) {
	t.Helper()
	brokers := testkit.StartBroker(t)
	adm := testkit.Admin(t, brokers)
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	return brokers, adm
}

// join adds a member with worker id's client id to the group and waits
// until the group lists it.
func join(t *testing.T, brokers []string, adm *kadm.Client, id, instance string, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("counter-worker-" + id), kgo.ConsumerGroup(group), kgo.ConsumeTopics("t"),
		kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)}
	opts = append(opts, extra...)
	if instance != "" {
		opts = append(opts, kgo.InstanceID(instance))
	}
	cl := testkit.GroupMember(t, opts...)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		d, err := adm.DescribeGroups(context.Background(), group)
		if err == nil {
			for _, m := range d[group].Members {
				if m.ClientID == "counter-worker-"+id {
					return cl
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("member never listed")
	return nil
}

func config(id string, local bool) idguard.Config {
	return idguard.Config{Group: group, ID: id, SessionTimeout: time.Second, Poll: 20 * time.Millisecond,
		LocalHost: func(net.IP) bool { return local }, Logger: testkit.Logger()}
}

func wait(t *testing.T, adm *kadm.Client, cfg idguard.Config, strict bool) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	err := idguard.Wait(ctx, adm, cfg, strict)
	return time.Since(began), err
}

func TestNoMemberStartsAtOnce(t *testing.T) {
	brokers, adm := cluster(t)
	if d, err := wait(t, adm, config("a", true), true); err != nil || d > time.Second {
		t.Fatalf("no group: %v after %v", err, d)
	}
	join(t, brokers, adm, "other", "")
	if d, err := wait(t, adm, config("a", true), true); err != nil || d > time.Second {
		t.Fatalf("only other ids in the group: %v after %v", err, d)
	}
}

// A live member with the same id from another machine stays: refused
// once the group has been stable for the session timeout and the margin,
// with the member named.
func TestLiveDuplicateIsRefused(t *testing.T) {
	brokers, adm := cluster(t)
	join(t, brokers, adm, "a", "")
	d, err := wait(t, adm, config("a", false), false)
	var dup *idguard.DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("err %v after %v, want a DuplicateError", err, d)
	}
	if d < 3*time.Second {
		t.Errorf("refused after %v, before the session timeout (1s) and the margin (2s)", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "another worker with --id a is running (member ") || !strings.Contains(msg, "give each worker its own --id") {
		t.Errorf("message %q", msg)
	}
}

// A member from this machine is taken for the worker's previous run (a
// restart): it starts at once, dynamic or static, unless after a fence.
func TestMemberFromThisMachine(t *testing.T) {
	brokers, adm := cluster(t)
	join(t, brokers, adm, "a", "")
	join(t, brokers, adm, "b", "slot")
	for _, id := range []string{"a", "b"} {
		if d, err := wait(t, adm, config(id, true), false); err != nil || d > time.Second {
			t.Fatalf("%s from this machine: %v after %v", id, err, d)
		}
	}
	if _, err := wait(t, adm, config("b", true), true); !errors.As(err, new(*idguard.DuplicateError)) {
		t.Fatalf("from this machine after a fence, live: %v", err)
	}
}

// The session of a member that is gone without leaving (a crash) expires:
// the wait ends then.
func TestCrashedMemberIsWaitedOut(t *testing.T) {
	brokers, adm := cluster(t)
	cl := join(t, brokers, adm, "a", "slot") // static: Close does not leave
	cl.Close()
	d, err := wait(t, adm, config("a", false), true)
	if err != nil {
		t.Fatalf("crashed member: %v after %v", err, d)
	}
	t.Logf("the crashed member's session ended after %v", d)
}

// A crashed member that a rebalance keeps listed past the session timeout
// (it waits for the member to rejoin until the rebalance timeout) is not
// taken for a live one: the wait goes on while the group is not stable.
func TestCrashedMemberListedThroughARebalance(t *testing.T) {
	brokers, adm := cluster(t)
	rebalance := kgo.RebalanceTimeout(6 * time.Second)
	join(t, brokers, adm, "other", "", rebalance)
	crashed := join(t, brokers, adm, "a", "slot", rebalance) // static: Close does not leave
	crashed.Close()
	join(t, brokers, adm, "third", "", rebalance) // a rebalance that waits for the crashed member
	cfg := config("a", false)
	cfg.RebalanceTimeout = 10 * time.Second
	d, err := wait(t, adm, cfg, false)
	if err != nil {
		t.Fatalf("crashed member kept by a rebalance: %v after %v", err, d)
	}
	t.Logf("the crashed member left the group after %v", d)
}

func TestFenced(t *testing.T) {
	for _, err := range []error{kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.FencedInstanceID} {
		if !idguard.Fenced(errors.Join(errors.New("ending transaction"), err)) {
			t.Errorf("%v is not a fence", err)
		}
	}
	if idguard.Fenced(kerr.NotCoordinator) {
		t.Error("NOT_COORDINATOR is a fence")
	}
}
