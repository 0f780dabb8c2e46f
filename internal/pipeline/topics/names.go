package topics

// Names the workers and the API side agree on besides the topics: the API
// finds the workers' group and reads their client ids in the cluster view,
// so these live here rather than in the worker package.
const (
	// WorkersGroup is the default consumer group of the workers.
	WorkersGroup = "counter-workers"
	// WorkerClientIDPrefix starts the Kafka client id of every worker; the
	// rest is the worker ID. Standby plans and the cluster view identify
	// workers by it.
	WorkerClientIDPrefix = "counter-worker-"
	// WorkerStatus is the workers' status topic (compacted, one
	// partition): each worker writes, keyed by its id, whether it is
	// ready and which partitions it is restoring (package workerstatus);
	// the API's cluster view reads it.
	WorkerStatus = "counter_worker_status"
)

// WorkerTransactionalID returns the transactional id of worker id in group,
// "<group>-<id>". It is stable per worker ID, so a restarted worker aborts
// its previous incarnation's open transaction and fences that incarnation
// for good (Kafka's zombie fencing); two live workers with the same ID would
// fence each other, which is why a worker checks for one before it starts
// (package worker/idguard, docs/operations.md).
func WorkerTransactionalID(group, id string) string { return group + "-" + id }
