package apinode

import (
	"github.com/counter-dev/counter/internal/apinode/generator"
	"github.com/counter-dev/counter/internal/apinode/videos"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// Topics lists the API's own topics, besides the pipeline's: the catalog
// and the generator's state (compacted tables of one partition, read from
// partition 0 only) and the generator's election topic (empty).
func Topics() []topics.Want {
	return []topics.Want{
		{Name: videos.Topic, Partitions: 1, Exact: true, Cleanup: topics.Compact},
		{Name: generator.Topic, Partitions: 1, Exact: true, Cleanup: topics.Compact},
		{Name: generator.ElectionTopic, Partitions: 1, Cleanup: topics.AnyCleanup},
	}
}
