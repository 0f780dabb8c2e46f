// Package topics names the Kafka topics of the pipeline and creates them.
package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/counter-dev/counter/internal/pipeline/window"
)

// The fixed topic names. The first two and the output topics are those of the
// original system.
const (
	// Ingestion receives one record per like; the value is the video id.
	Ingestion = "video_clicks_ingestion"
	// Partitioned holds the likes re-keyed by video id, plus watermarks.
	Partitioned = "video_clicks_partitioned"
	// Changelog backs the workers' window state; compacted, and partitioned
	// like Partitioned: changelog partition p holds the state of partition p.
	Changelog = "counter_state_changelog"
	// DeadLetter receives input that cannot be counted, unchanged, with the
	// reason in the counter.reason header.
	DeadLetter = "video_clicks_dead_letter"
	// OutputPrefix starts the name of every output topic.
	OutputPrefix = "video_aggregations_"
)

// Output returns the output topic of window size s, e.g.
// video_aggregations_1 for one minute, video_aggregations_2s for two seconds.
func Output(s window.Size) string { return OutputPrefix + s.TopicSuffix }

// Spec is what Ensure creates when a topic is missing.
type Spec struct {
	Partitions  int32
	Replication int16
}

// Layout is the partition count of each topic as it exists in the cluster.
type Layout map[string]int32

// Ensure creates every topic of the pipeline that does not exist yet and
// returns the partition count of each. The changelog must have as many
// partitions as the partitioned topic; it is created so, and a mismatch in an
// existing cluster is an error (see docs on adding partitions).
func Ensure(ctx context.Context, adm *kadm.Client, sizes []window.Size, spec Spec) (Layout, error) {
	if spec.Partitions < 1 {
		return nil, fmt.Errorf("partitions must be at least 1, got %d", spec.Partitions)
	}
	if spec.Replication < 1 {
		return nil, fmt.Errorf("replication factor must be at least 1, got %d", spec.Replication)
	}
	names := []string{Ingestion, Partitioned, DeadLetter}
	for _, s := range sizes {
		names = append(names, Output(s))
	}
	layout, err := create(ctx, adm, names, spec, nil)
	if err != nil {
		return nil, err
	}
	// The changelog follows the partitioned topic, whatever its count.
	cl, err := create(ctx, adm, []string{Changelog}, Spec{layout[Partitioned], spec.Replication},
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	if err != nil {
		return nil, err
	}
	if cl[Changelog] != layout[Partitioned] {
		return nil, fmt.Errorf("topic %s has %d partitions but %s has %d: they must match", Changelog, cl[Changelog], Partitioned, layout[Partitioned])
	}
	layout[Changelog] = cl[Changelog]
	return layout, nil
}

func create(ctx context.Context, adm *kadm.Client, names []string, spec Spec, configs map[string]*string) (Layout, error) {
	resp, err := adm.CreateTopics(ctx, spec.Partitions, spec.Replication, configs, names...)
	if err != nil {
		return nil, fmt.Errorf("creating topics: %w", err)
	}
	var errs []string
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Sprintf("%s: %v", r.Topic, r.Err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("creating topics: %s", strings.Join(errs, "; "))
	}
	return Describe(ctx, adm, names...)
}

// Describe returns the partition count of each named topic; a missing topic
// is an error.
func Describe(ctx context.Context, adm *kadm.Client, names ...string) (Layout, error) {
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topics: %w", err)
	}
	layout := Layout{}
	for _, n := range names {
		d, ok := details[n]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return nil, fmt.Errorf("topic %s is missing or unreadable: %v", n, d.Err)
		}
		layout[n] = int32(len(d.Partitions))
	}
	return layout, nil
}
