package broker

import (
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/counter-dev/counter/internal/disk/diskspace"
)

// keepReserve refuses produce requests with KAFKA_STORAGE_ERROR (retriable:
// producers retry, the API answers 503) while the data dir's filesystem has
// less free space than the guard's reserve, until stop is closed. Without
// it, kfake writes until ENOSPC, and a transaction marker that then fails
// leaves the transaction's data readable as committed (kfake's endTx drops
// the producer from the partition's open transactions before the marker
// write; docs/embedded-broker.md). Everything but new data — markers,
// offsets, group state — still has the reserve to finish the work in
// flight.
func keepReserve(c *kfake.Cluster, g *diskspace.Guard, log *slog.Logger, stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var refusing *kfake.FaultHandle
	for {
		err := g.Check()
		switch {
		case err != nil && refusing == nil:
			refusing = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.KafkaStorageError, Count: -1})
			log.Error("refusing new records until there is space again", "err", err)
		case err == nil && refusing != nil:
			refusing.Remove()
			refusing = nil
			log.Info("disk space is back above the reserve; accepting records again")
		}
		select {
		case <-stop:
			if refusing != nil {
				refusing.Remove()
			}
			return
		case <-t.C:
		}
	}
}
