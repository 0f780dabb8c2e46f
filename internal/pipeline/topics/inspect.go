package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// State is a topic as it exists in the cluster, and what is wrong with it.
type State struct {
	Want
	// Exists is false for a missing topic; the other fields are then 0.
	Exists bool
	// Partitions is the topic's partition count.
	Partitions int32
	// Replication is the smallest replica count of its partitions.
	Replication int16
	// CleanupPolicy and MinInsync are the topic's effective
	// cleanup.policy and min.insync.replicas ("" if not reported).
	CleanupPolicy, MinInsync string
	// Problems found, fatal ones first.
	Problems []Problem
}

// Problem is something wrong with a topic. A fatal problem breaks the
// pipeline (workers and API refuse to start); the others weaken it.
type Problem struct {
	Fatal bool
	Text  string
}

// Report is the state of each wanted topic, in the order wanted.
type Report []State

// Err returns the fatal problems as one error, nil if there are none.
func (r Report) Err() error {
	var msgs []string
	for _, s := range r {
		for _, p := range s.Problems {
			if p.Fatal {
				msgs = append(msgs, "topic "+s.Name+": "+p.Text)
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Warnings returns the problems that are not fatal, one line each.
func (r Report) Warnings() []string {
	var out []string
	for _, s := range r {
		for _, p := range s.Problems {
			if !p.Fatal {
				out = append(out, "topic "+s.Name+": "+p.Text)
			}
		}
	}
	return out
}

// Layout returns the partition count of each existing topic.
func (r Report) Layout() Layout {
	l := Layout{}
	for _, s := range r {
		if s.Exists {
			l[s.Name] = s.Partitions
		}
	}
	return l
}

// Inspect describes the wanted topics and checks them against wants and
// spec (resolved: see Resolve). Only a failure to ask is an error; what is
// wrong with the topics is in the report.
func Inspect(ctx context.Context, adm *kadm.Client, wants []Want, spec Spec) (Report, error) {
	names := make([]string, len(wants))
	for i, w := range wants {
		names[i] = w.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topics: %w", err)
	}
	report := make(Report, len(wants))
	var existing []string
	for i, w := range wants {
		s := State{Want: w}
		if d, ok := details[w.Name]; ok && d.Err == nil && len(d.Partitions) > 0 {
			s.Exists, s.Partitions, s.Replication = true, int32(len(d.Partitions)), replicas(d)
			existing = append(existing, w.Name)
		}
		report[i] = s
	}
	if len(existing) > 0 {
		configs, err := adm.DescribeTopicConfigs(ctx, existing...)
		if err != nil {
			return nil, fmt.Errorf("describing topic configs: %w", err)
		}
		for _, rc := range configs {
			if rc.Err != nil {
				return nil, fmt.Errorf("describing the configs of topic %s: %w", rc.Name, rc.Err)
			}
			for i := range report {
				if report[i].Name == rc.Name {
					report[i].CleanupPolicy, report[i].MinInsync = configValue(rc, "cleanup.policy"), configValue(rc, "min.insync.replicas")
				}
			}
		}
	}
	partitions := report.Layout()
	for i := range report {
		report[i].Problems = check(report[i], partitions, spec)
	}
	return report, nil
}

func replicas(d kadm.TopicDetail) int16 {
	least := -1
	for _, p := range d.Partitions {
		if least < 0 || len(p.Replicas) < least {
			least = len(p.Replicas)
		}
	}
	return int16(max(least, 0))
}

func configValue(rc kadm.ResourceConfig, key string) string {
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// check lists what is wrong with topic s: fatal problems first.
func check(s State, partitions Layout, spec Spec) []Problem {
	if !s.Exists {
		return []Problem{{true, "missing (counter topics create creates it)"}}
	}
	var fatal, weak []Problem
	add := func(isFatal bool, format string, args ...any) {
		p := Problem{isFatal, fmt.Sprintf(format, args...)}
		if isFatal {
			fatal = append(fatal, p)
		} else {
			weak = append(weak, p)
		}
	}
	if n, ok := partitions[s.Follows]; ok && s.Follows != "" && n != s.Partitions {
		add(true, "%d partitions, but %s has %d: they must match (docs/operations.md, Adding partitions)", s.Partitions, s.Follows, n)
	}
	if s.Exact && s.Partitions != s.Want.Partitions {
		add(true, "%d partitions, must have exactly %d", s.Partitions, s.Want.Partitions)
	}
	policies := strings.Split(s.CleanupPolicy, ",")
	compacted := false
	for _, p := range policies {
		compacted = compacted || strings.TrimSpace(p) == "compact"
	}
	switch {
	case s.Cleanup == Compact && (!compacted || len(policies) > 1):
		add(true, "cleanup.policy is %q, must be compact (a table of the latest value per key: deletion by retention would lose current keys)", s.CleanupPolicy)
	case s.Cleanup == Delete && compacted:
		add(true, "cleanup.policy is %q, must not include compact (compaction drops records the pipeline needs, and unkeyed records are refused)", s.CleanupPolicy)
	}
	minISR, _ := strconv.Atoi(s.MinInsync)
	if minISR > int(s.Replication) {
		add(true, "min.insync.replicas %d exceeds the replication factor %d: every acks=all write would fail", minISR, s.Replication)
	}
	if s.Replication < spec.Replication {
		add(false, "replication factor %d, below the wanted %d: losing a broker loses or blocks the topic (raise it with kafka-reassign-partitions)", s.Replication, spec.Replication)
	}
	if spec.MinInsyncReplicas > 0 && s.MinInsync != "" && minISR < int(spec.MinInsyncReplicas) {
		add(false, "min.insync.replicas %d, below the wanted %d: an acknowledged write may live on fewer brokers (kafka-configs --alter --add-config min.insync.replicas=%d)", minISR, spec.MinInsyncReplicas, spec.MinInsyncReplicas)
	}
	return append(fatal, weak...)
}
