package broker

import (
	"math"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// keepAbortedLists works around a kfake fault that breaks read_committed
// (docs/embedded-broker.md, "Aborted transactions lost at the response
// limit"): when a Fetch response reaches the request's MaxBytes in the middle
// of a partition, kfake sends the batches it has already added for that
// partition without the partition's AbortedTransactions list, and every
// client then hands the aborted records to the application as committed.
//
// kfake only leaves a partition that way at the request-level limit; the
// per-partition limit (PartitionMaxBytes) ends the partition normally, with
// its list. So for read_committed fetches the request-level limit is lifted
// before kfake handles the request: a response then holds at most each
// partition's own limit (Kafka's max.partition.fetch.bytes, 1 MiB by
// default) per partition, which clients accept: the request limit is a soft
// one in Kafka too, and clients bound what they read by their own maximum
// response size (franz-go and librdkafka: 100 MiB).
func keepAbortedLists(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if f, ok := req.(*kmsg.FetchRequest); ok && f.IsolationLevel == 1 {
			f.MaxBytes = math.MaxInt32
		}
		return nil, nil, false
	})
}
