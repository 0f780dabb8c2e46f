package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// aclRule is one row of the ACL table of docs/deploy.md.
type aclRule struct {
	resource kmsg.ACLResourceType
	name     string
	prefixed bool
	ops      []kmsg.ACLOperation
}

// kfakeACLs turns rules into kfake's seeded ACLs (allow, any host).
func kfakeACLs(rules []aclRule) []kfake.ACL {
	var acls []kfake.ACL
	for _, r := range rules {
		pattern := kmsg.ACLResourcePatternTypeLiteral
		if r.prefixed {
			pattern = kmsg.ACLResourcePatternTypePrefixed
		}
		for _, op := range r.ops {
			acls = append(acls, kfake.ACL{Resource: r.resource, Name: r.name, Pattern: pattern, Operation: op, Allow: true})
		}
	}
	return acls
}

const (
	topicACL        = kmsg.ACLResourceTypeTopic
	groupACL        = kmsg.ACLResourceTypeGroup
	txnACL          = kmsg.ACLResourceTypeTransactionalId
	describe        = kmsg.ACLOperationDescribe
	describeConfigs = kmsg.ACLOperationDescribeConfigs
	read            = kmsg.ACLOperationRead
	write           = kmsg.ACLOperationWrite
)

// The ACLs of docs/deploy.md, "Required ACLs", for the default group.
var (
	workerACLs = []aclRule{
		{topicACL, "video_clicks_", true, []kmsg.ACLOperation{describe, describeConfigs}},
		{topicACL, "video_aggregations_", true, []kmsg.ACLOperation{describe, describeConfigs, write}},
		{topicACL, "counter_state_changelog", false, []kmsg.ACLOperation{describe, describeConfigs, read, write}},
		{topicACL, "video_clicks_ingestion", false, []kmsg.ACLOperation{read}},
		{topicACL, "video_clicks_partitioned", false, []kmsg.ACLOperation{read, write}},
		{topicACL, "video_clicks_dead_letter", false, []kmsg.ACLOperation{write}},
		{topicACL, "counter_worker_status", false, []kmsg.ACLOperation{describe, describeConfigs, write}},
		{groupACL, "counter-workers", false, []kmsg.ACLOperation{read, describe}},
		{txnACL, "counter-workers-", true, []kmsg.ACLOperation{write, describe}},
	}
	apiACLs = []aclRule{
		{topicACL, "video_clicks_", true, []kmsg.ACLOperation{describe, describeConfigs}},
		{topicACL, "video_aggregations_", true, []kmsg.ACLOperation{describe, describeConfigs, read}},
		{topicACL, "counter_", true, []kmsg.ACLOperation{describe, describeConfigs}},
		{topicACL, "videos", false, []kmsg.ACLOperation{describe, describeConfigs, read, write}},
		{topicACL, "video_clicks_ingestion", false, []kmsg.ACLOperation{write, read}},
		{topicACL, "counter_generator", false, []kmsg.ACLOperation{read, write}},
		{topicACL, "counter_generator_election", false, []kmsg.ACLOperation{read}},
		{topicACL, "counter_worker_status", false, []kmsg.ACLOperation{read}},
		{topicACL, "video_clicks_dead_letter", false, []kmsg.ACLOperation{read}},
		{groupACL, "counter-generator", false, []kmsg.ACLOperation{read, describe}},
		{groupACL, "counter-workers", false, []kmsg.ACLOperation{describe}},
	}
)

// The ACLs of docs/deploy.md are enough: on a cluster that checks ACLs,
// with the topics created up front by an admin (counter topics create), a
// worker and an API instance whose principals hold only the documented ACLs
// count every acknowledged like exactly once, and the API's admin, cluster
// and audit routes answer.
func TestDocumentedACLsAreEnough(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"),
		kfake.User("SCRAM-SHA-256", "counter-worker", "worker-pw", kfakeACLs(workerACLs)...),
		kfake.User("SCRAM-SHA-256", "counter-api", "api-pw", kfakeACLs(apiACLs)...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	login := func(user, pass string) []string {
		file := filepath.Join(dir, user+".password")
		if err := os.WriteFile(file, []byte(pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--brokers", strings.Join(c.ListenAddrs(), ","), "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", user, "--sasl-password-file", file}
	}
	common := []string{"--windows", "2s", "--partitions", "2"}

	topicsCreate := start(t, append(append([]string{"topics", "create"}, login("admin", "admin-pw")...), common...)...)
	if err := <-topicsCreate.done; err != nil {
		t.Fatalf("counter topics create as admin: %v\n%s", err, topicsCreate.log.String())
	}
	worker := start(t, append(append([]string{"worker", "--id", "w1", "--state-dir", filepath.Join(dir, "w1"), "--grace", "1s", "--min-free-disk", "0"},
		login("counter-worker", "worker-pw")...), common...)...)
	worker.waitLog(t, "partitions changed", 30*time.Second)
	api := start(t, append(append([]string{"api", "--http-addr", "127.0.0.1:0", "--grace", "1s", "--admin-token", "acl-test-token"},
		login("counter-api", "api-pw")...), common...)...)
	base := "http://" + api.waitLog(t, "API listening", 30*time.Second)["http"].(string)

	ld := &loader{acked: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	ld.run(ctx, base, []string{"alpha", "beta"})
	cancel()
	if len(ld.acked) == 0 {
		t.Fatalf("no like acknowledged out of %d", ld.sent)
	}
	waitTotals(t, c.ListenAddrs(), []string{"2s"}, ld.acked, 30*time.Second, kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism()))

	for _, r := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/dev/videos", `{"title":"ACL test"}`, http.StatusCreated},
		{"GET", "/dev/cluster", "", http.StatusOK},
		{"GET", "/dev/audit", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer acl-test-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.want {
			t.Errorf("%s %s: %d, want %d", r.method, r.path, resp.StatusCode, r.want)
		}
	}
	// The worker's status reaches the cluster view (Write and Read on
	// counter_worker_status).
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(get(t, base+"/dev/cluster"), `"status":"ready"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the cluster view never showed the worker ready: %s", get(t, base+"/dev/cluster"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The generator's runner election (group counter-generator on its topic).
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(get(t, base+"/metrics"), "\ncounter_generator_leader 1") {
		if time.Now().After(deadline) {
			t.Fatal("the API did not win the generator's runner election (counter_generator_leader 1)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range []*proc{worker, api} {
		if err := p.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s exited with %v", p.cmd.Args[1], err)
		}
	}
}
