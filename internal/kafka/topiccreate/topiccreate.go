// Package topiccreate creates a Kafka topic unless it exists.
package topiccreate

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// IfMissing creates topic with the given partitions, replication factor
// and configs unless it exists. It asks for the topic's configs first:
// Kafka refuses CreateTopics to a principal without Create even for a topic
// that exists, so a process running on topics provisioned up front must not
// ask; and the metadata could come from the client's cache, which may
// predate a creation.
func IfMissing(ctx context.Context, adm *kadm.Client, topic string, partitions int32, replication int16, configs map[string]*string) error {
	if rcs, err := adm.DescribeTopicConfigs(ctx, topic); err == nil {
		for _, rc := range rcs {
			if rc.Name == topic && rc.Err == nil {
				return nil
			}
		}
	}
	resp, err := adm.CreateTopic(ctx, partitions, replication, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}
