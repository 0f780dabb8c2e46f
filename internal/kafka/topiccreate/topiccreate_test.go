package topiccreate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/counter-dev/counter/internal/kafka/topiccreate"
)

// A principal that may describe but not create topics runs on a topic that
// exists, and gets the broker's authorization error for one that does not.
func TestIfMissingAsksOnlyForMissingTopics(t *testing.T) {
	describeOnly := []kfake.ACL{
		{Resource: kmsg.ACLResourceTypeTopic, Name: "t", Pattern: kmsg.ACLResourcePatternTypePrefixed, Operation: kmsg.ACLOperationDescribe, Allow: true},
		{Resource: kmsg.ACLResourceTypeTopic, Name: "t", Pattern: kmsg.ACLResourcePatternTypePrefixed, Operation: kmsg.ACLOperationDescribeConfigs, Allow: true},
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"), kfake.User("SCRAM-SHA-256", "app", "app-pw", describeOnly...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	admin, app := adminClient(t, c, "admin", "admin-pw"), adminClient(t, c, "app", "app-pw")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := topiccreate.IfMissing(ctx, admin, "t-existing", 2, 1, nil); err != nil {
		t.Fatalf("admin: %v", err)
	}
	if err := topiccreate.IfMissing(ctx, admin, "t-existing", 2, 1, nil); err != nil {
		t.Fatalf("admin again: %v", err)
	}
	if err := topiccreate.IfMissing(ctx, app, "t-existing", 2, 1, nil); err != nil {
		t.Fatalf("app on an existing topic: %v", err)
	}
	if err := topiccreate.IfMissing(ctx, app, "t-missing", 2, 1, nil); err == nil || !strings.Contains(err.Error(), "AUTHORIZATION") {
		t.Fatalf("app on a missing topic: %v, want an authorization error", err)
	}
}

func adminClient(t *testing.T, c *kfake.Cluster, user, pass string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}
