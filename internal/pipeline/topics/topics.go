// Package topics names the Kafka topics of the pipeline and creates them.
package topics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

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

// Layout is the partition count of each topic as it exists in the cluster.
type Layout map[string]int32

// Ensure creates every topic of the pipeline (Pipeline(sizes)) that does not
// exist yet and returns the partition count of each. A topic that exists in
// a shape the pipeline cannot work with — a changelog whose partition count
// differs from the partitioned topic's, a cleanup policy that is wrong for
// it — is an error (see Inspect).
func Ensure(ctx context.Context, adm *kadm.Client, sizes []window.Size, spec Spec) (Layout, error) {
	_, report, err := Provision(ctx, adm, Pipeline(sizes), spec)
	if err != nil {
		return nil, err
	}
	if err := report.Err(); err != nil {
		return nil, err
	}
	return report.Layout(), nil
}

// Provision resolves spec against the cluster (Resolve), creates every
// wanted topic that is missing — a topic that follows another's partition
// count after it, with its count — and inspects them all. The error is a
// failure to ask; what is wrong with the topics is in the report. Topics
// that exist are not asked for again, so that a principal without Create
// can run on topics provisioned up front (Kafka refuses it CreateTopics
// even for an existing topic).
func Provision(ctx context.Context, adm *kadm.Client, wants []Want, spec Spec) (Spec, Report, error) {
	spec, err := Resolve(ctx, adm, spec)
	if err != nil {
		return Spec{}, nil, err
	}
	names := make([]string, len(wants))
	for i, w := range wants {
		names[i] = w.Name
	}
	// Their configs tell which exist; not the metadata, which the client
	// would keep answering from its cache after the creation.
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return Spec{}, nil, fmt.Errorf("describing topic configs: %w", err)
	}
	exists := map[string]bool{}
	for _, rc := range configs {
		exists[rc.Name] = rc.Err == nil
	}
	var followers []Want
	for _, w := range wants {
		if exists[w.Name] {
			continue
		}
		if w.Follows != "" {
			followers = append(followers, w)
			continue
		}
		if err := create(ctx, adm, w, cmp.Or(w.Partitions, spec.Partitions), spec); err != nil {
			return Spec{}, nil, err
		}
	}
	for _, w := range followers {
		layout, err := Describe(ctx, adm, w.Follows)
		if err != nil {
			return Spec{}, nil, err
		}
		if err := create(ctx, adm, w, layout[w.Follows], spec); err != nil {
			return Spec{}, nil, err
		}
	}
	report, err := Inspect(ctx, adm, wants, spec)
	return spec, report, err
}

// create creates topic w with partitions unless it exists.
func create(ctx context.Context, adm *kadm.Client, w Want, partitions int32, spec Spec) error {
	configs := map[string]*string{}
	for k, v := range w.Configs {
		configs[k] = kadm.StringPtr(v)
	}
	if w.Cleanup == Compact {
		configs["cleanup.policy"] = kadm.StringPtr("compact")
	}
	if spec.MinInsyncReplicas > 0 {
		configs["min.insync.replicas"] = kadm.StringPtr(strconv.Itoa(int(spec.MinInsyncReplicas)))
	}
	resp, err := adm.CreateTopic(ctx, partitions, spec.Replication, configs, w.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", w.Name, err)
	}
	return nil
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
