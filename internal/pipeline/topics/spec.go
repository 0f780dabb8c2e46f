package topics

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/counter-dev/counter/internal/pipeline/window"
)

// Spec is how missing topics are created.
type Spec struct {
	// Partitions of each topic whose count is free (not the changelog,
	// which follows the partitioned topic, nor the one-partition tables).
	Partitions int32
	// Replication is the replication factor; 0 decides from the cluster
	// (AutoReplication of its broker count, see Resolve).
	Replication int16
	// MinInsyncReplicas is set as min.insync.replicas on created topics;
	// 0 means DefaultMinInsync of the replication factor, and a resolved
	// 0 leaves the broker's default.
	MinInsyncReplicas int16
}

// AutoReplication is the replication factor chosen for a cluster of n
// brokers: 3 from three brokers on, else 1.
func AutoReplication(brokers int) int16 {
	if brokers >= 3 {
		return 3
	}
	return 1
}

// DefaultMinInsync is the min.insync.replicas chosen for replication
// factor rf: 2 from rf 3 on (a write acknowledged by acks=all is then on
// two brokers at least, and one broker may be down), else 0 (the broker's
// default).
func DefaultMinInsync(rf int16) int16 {
	if rf >= 3 {
		return 2
	}
	return 0
}

// Resolve fills the automatic fields of spec from the cluster's broker
// count and checks it against the cluster.
func Resolve(ctx context.Context, adm *kadm.Client, spec Spec) (Spec, error) {
	if spec.Partitions < 1 {
		return Spec{}, fmt.Errorf("partitions must be at least 1, got %d", spec.Partitions)
	}
	if spec.Replication < 0 || spec.MinInsyncReplicas < 0 {
		return Spec{}, fmt.Errorf("replication factor %d and min.insync.replicas %d must not be negative", spec.Replication, spec.MinInsyncReplicas)
	}
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return Spec{}, fmt.Errorf("reading the cluster's brokers: %w", err)
	}
	brokers := len(md.Brokers)
	if spec.Replication == 0 {
		spec.Replication = AutoReplication(brokers)
	}
	if int(spec.Replication) > brokers {
		return Spec{}, fmt.Errorf("replication factor %d, but the cluster has %d broker(s)", spec.Replication, brokers)
	}
	if spec.MinInsyncReplicas == 0 {
		spec.MinInsyncReplicas = DefaultMinInsync(spec.Replication)
	}
	if spec.MinInsyncReplicas > spec.Replication {
		return Spec{}, fmt.Errorf("min.insync.replicas %d exceeds the replication factor %d: every acks=all write would fail", spec.MinInsyncReplicas, spec.Replication)
	}
	return spec, nil
}

// Cleanup is the cleanup.policy a topic needs.
type Cleanup int

// The cleanup policies.
const (
	// Delete: the topic must not be compacted (records without keys, or
	// every record of a key matters).
	Delete Cleanup = iota
	// Compact: exactly compact, a table of the latest value per key; with
	// delete too, retention would drop keys that are still current.
	Compact
	// AnyCleanup: the topic stays empty, its policy does not matter.
	AnyCleanup
)

// Want is one topic a deployment needs, and what it must look like.
type Want struct {
	Name string
	// Partitions is the count the topic is created with; 0 means the
	// spec's.
	Partitions int32
	// Exact makes Partitions part of the contract: another count is a
	// problem (one-partition tables read partition 0 only).
	Exact bool
	// Follows names a topic whose partition count this one must equal
	// (the changelog follows the partitioned topic); it is created after
	// it, with its count.
	Follows string
	Cleanup Cleanup
	// Configs are topic configs set when the topic is created (not
	// checked on a topic that exists).
	Configs map[string]string
}

// statusSegmentMs rolls the status topic's segments hourly, so that
// compaction (which leaves the active segment alone) keeps it at about an
// hour of status records plus the latest one of each worker.
const statusSegmentMs = "3600000"

// Pipeline lists the topics of the workers for window sizes sizes:
// ingestion, partitioned, dead letter, one output per size, the changelog
// and the workers' status.
func Pipeline(sizes []window.Size) []Want {
	wants := []Want{{Name: Ingestion}, {Name: Partitioned}, {Name: DeadLetter}}
	for _, s := range sizes {
		wants = append(wants, Want{Name: Output(s)})
	}
	return append(wants, Want{Name: Changelog, Follows: Partitioned, Cleanup: Compact},
		Want{Name: WorkerStatus, Partitions: 1, Exact: true, Cleanup: Compact, Configs: map[string]string{"segment.ms": statusSegmentMs}})
}
