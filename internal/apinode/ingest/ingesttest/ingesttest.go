// Package ingesttest starts in-process Kafka clusters (kfake) for tests of
// the ingestion sink (testkit.ReadAll reads back what was produced).
package ingesttest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// NewCluster starts a one-broker in-process cluster with topics of the given
// partition count, closed when the test ends. Extra options come last.
func NewCluster(t testing.TB, partitions int32, topics []string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
