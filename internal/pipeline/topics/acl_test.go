package topics_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// aclCluster starts a kfake cluster that checks ACLs, with the superuser
// admin and the user app, who may only Describe and DescribeConfigs the
// pipeline's topics (video_* and counter_*, prefixed).
func aclCluster(t *testing.T) (admin, app *kadm.Client) {
	t.Helper()
	var acls []kfake.ACL
	for _, prefix := range []string{"video_", "counter_"} {
		for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs} {
			acls = append(acls, kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: prefix, Pattern: kmsg.ACLResourcePatternTypePrefixed, Operation: op, Allow: true})
		}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"), kfake.User("SCRAM-SHA-256", "app", "app-pw", acls...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	client := func(user, pass string) *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl)
	}
	return client("admin", "admin-pw"), client("app", "app-pw")
}

// Topics provisioned up front (counter topics create, by an admin) need no
// Create from the processes: they only describe them. A topic missing for a
// principal that may not create it is a clear authorization error.
func TestProvisionNeedsNoCreateForExistingTopics(t *testing.T) {
	admin, app := aclCluster(t)
	wants := topics.Pipeline(sizes(t))
	spec := topics.Spec{Partitions: 2}
	if _, report, err := topics.Provision(ctx(t), app, wants, spec); err == nil || !strings.Contains(err.Error(), "AUTHORIZATION") {
		t.Fatalf("app provisioned missing topics without Create: err %v, report %v", err, report)
	}
	if _, report, err := topics.Provision(ctx(t), admin, wants, spec); err != nil || report.Err() != nil {
		t.Fatalf("admin: %v, %v", err, report.Err())
	}
	_, report, err := topics.Provision(ctx(t), app, wants, spec)
	if err != nil || report.Err() != nil {
		t.Fatalf("app on existing topics: %v, %v", err, report.Err())
	}
	if got := report.Layout()[topics.Changelog]; got != 2 {
		t.Errorf("app sees %d changelog partitions, want 2", got)
	}
}
