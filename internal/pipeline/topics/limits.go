package topics

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
)

// MaxMessageBytes returns, for each named topic that reports it, the
// largest record batch its brokers accept (the topic's max.message.bytes,
// which defaults to the broker's message.max.bytes).
func MaxMessageBytes(ctx context.Context, adm *kadm.Client, names ...string) (map[string]int32, error) {
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing topic configs: %w", err)
	}
	limits := map[string]int32{}
	for _, rc := range configs {
		if rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, err := strconv.ParseInt(*c.Value, 10, 32); err == nil && n > 0 {
				limits[rc.Name] = int32(n)
			}
		}
	}
	return limits, nil
}
