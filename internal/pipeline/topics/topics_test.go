package topics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
	"github.com/counter-dev/counter/internal/testkit"
)

func cluster(t *testing.T, brokers int) *kadm.Client {
	t.Helper()
	return testkit.Admin(t, testkit.StartCluster(t, brokers))
}

func sizes(t *testing.T) []window.Size {
	t.Helper()
	s, err := window.ParseSizes([]string{"1m", "2s"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func configOf(rc kadm.ResourceConfig, key string) string {
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// The replication factor and min.insync.replicas follow the cluster's
// size unless given: 3 and 2 from three brokers on, 1 and the broker's
// default below.
func TestProvisionFollowsTheClusterSize(t *testing.T) {
	for _, tc := range []struct {
		brokers        int
		spec           topics.Spec
		rf             int16
		minISR         string
		changelogParts int32
	}{
		{1, topics.Spec{Partitions: 4}, 1, "1", 4},
		{3, topics.Spec{Partitions: 4}, 3, "2", 4},
		{3, topics.Spec{Partitions: 2, Replication: 1}, 1, "1", 2},
		{3, topics.Spec{Partitions: 2, Replication: 3, MinInsyncReplicas: 3}, 3, "3", 2},
	} {
		adm := cluster(t, tc.brokers)
		spec, report, err := topics.Provision(ctx(t), adm, topics.Pipeline(sizes(t)), tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if spec.Replication != tc.rf {
			t.Errorf("%d brokers, %+v: resolved replication %d, want %d", tc.brokers, tc.spec, spec.Replication, tc.rf)
		}
		if err := report.Err(); err != nil || len(report.Warnings()) > 0 {
			t.Errorf("%d brokers: problems in fresh topics: %v %v", tc.brokers, err, report.Warnings())
		}
		if len(report) != 7 {
			t.Fatalf("%d topics, want 7", len(report))
		}
		for _, s := range report {
			if s.Replication != tc.rf || s.MinInsync != tc.minISR {
				t.Errorf("%d brokers: %s has replication %d and min.insync.replicas %q, want %d and %q", tc.brokers, s.Name, s.Replication, s.MinInsync, tc.rf, tc.minISR)
			}
			if want := map[bool]string{true: "compact", false: "delete"}[s.Name == topics.Changelog || s.Name == topics.WorkerStatus]; s.CleanupPolicy != want {
				t.Errorf("%s: cleanup.policy %q, want %q", s.Name, s.CleanupPolicy, want)
			}
		}
		if p := report.Layout()[topics.WorkerStatus]; p != 1 {
			t.Errorf("the status topic has %d partitions, want 1", p)
		}
		if rcs, err := adm.DescribeTopicConfigs(ctx(t), topics.WorkerStatus); err != nil || len(rcs) != 1 {
			t.Errorf("status topic configs: %v", err)
		} else if v := configOf(rcs[0], "segment.ms"); v != "3600000" {
			t.Errorf("status topic segment.ms %q, want 3600000 (an hour)", v)
		}
		if p := report.Layout()[topics.Changelog]; p != tc.changelogParts {
			t.Errorf("changelog has %d partitions, want %d", p, tc.changelogParts)
		}
	}
}

func TestProvisionRefusesImpossibleSpecs(t *testing.T) {
	adm := cluster(t, 1)
	for spec, want := range map[topics.Spec]string{
		{Partitions: 1, Replication: 3}:                       "replication factor 3, but the cluster has 1 broker",
		{Partitions: 1, Replication: 1, MinInsyncReplicas: 2}: "min.insync.replicas 2 exceeds the replication factor 1",
		{Partitions: 0}: "partitions must be at least 1",
	} {
		if _, _, err := topics.Provision(ctx(t), adm, topics.Pipeline(sizes(t)), spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want %q", spec, err, want)
		}
	}
}

// Existing topics of the wrong shape: Ensure refuses them with an error
// naming the topic and the fault.
func TestEnsureRefusesTopicsOfTheWrongShape(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int32
		configs    map[string]*string
		want       string
	}{
		{topics.Changelog, 3, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "topic counter_state_changelog: 3 partitions, but video_clicks_partitioned has 4: they must match"},
		{topics.Changelog, 4, nil, `topic counter_state_changelog: cleanup.policy is "delete", must be compact`},
		{topics.Changelog, 4, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")}, `cleanup.policy is "compact,delete", must be compact`},
		{topics.Ingestion, 4, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, `topic video_clicks_ingestion: cleanup.policy is "compact", must not include compact`},
		{topics.OutputPrefix + "1", 4, map[string]*string{"cleanup.policy": kadm.StringPtr("delete,compact")}, `topic video_aggregations_1: cleanup.policy is "delete,compact", must not include compact`},
		{topics.DeadLetter, 4, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "topic video_clicks_dead_letter: min.insync.replicas 2 exceeds the replication factor 1"},
	} {
		adm := cluster(t, 1)
		if _, err := adm.CreateTopic(ctx(t), tc.partitions, 1, tc.configs, tc.name); err != nil {
			t.Fatal(err)
		}
		_, err := topics.Ensure(ctx(t), adm, sizes(t), topics.Spec{Partitions: 4})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want %q", tc.name, tc.configs, err, tc.want)
		}
	}
}

// Weaker replication than wanted is reported, not refused.
func TestInspectWarnsOfWeakReplication(t *testing.T) {
	adm := cluster(t, 3)
	if _, err := topics.Ensure(ctx(t), adm, sizes(t), topics.Spec{Partitions: 2, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	report, err := topics.Inspect(ctx(t), adm, topics.Pipeline(sizes(t)), topics.Spec{Partitions: 2, Replication: 3, MinInsyncReplicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Err(); err != nil {
		t.Fatalf("fatal problems: %v", err)
	}
	w := strings.Join(report.Warnings(), "\n")
	for _, want := range []string{"topic video_clicks_ingestion: replication factor 1, below the wanted 3", "topic counter_state_changelog: min.insync.replicas 1, below the wanted 2"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
}

// A missing topic and a one-partition table with more partitions are
// fatal.
func TestInspectMissingAndExactPartitions(t *testing.T) {
	adm := cluster(t, 1)
	if _, err := adm.CreateTopic(ctx(t), 2, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "table"); err != nil {
		t.Fatal(err)
	}
	report, err := topics.Inspect(ctx(t), adm, []topics.Want{{Name: "table", Partitions: 1, Exact: true, Cleanup: topics.Compact}, {Name: "absent"}}, topics.Spec{Partitions: 1, Replication: 1})
	if err != nil {
		t.Fatal(err)
	}
	msg := report.Err().Error()
	for _, want := range []string{"topic table: 2 partitions, must have exactly 1", "topic absent: missing"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
}
