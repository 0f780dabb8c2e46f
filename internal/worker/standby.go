package worker

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafkalog"
	"github.com/counter-dev/counter/internal/standby"
	"github.com/counter-dev/counter/internal/topics"
)

// ClientIDPrefix starts the Kafka client id of every worker; the rest is the
// worker ID. Standby plans and the cluster view identify workers by it.
const ClientIDPrefix = "counter-worker-"

// standbyRefresh is how often the standby plan is recomputed from the
// group's assignment.
const standbyRefresh = 2 * time.Second

// standbys keeps warm, read-only copies of partitions this worker does not
// own by tailing their changelogs into the local store, so that taking one
// over replays only the last few records. It runs in its own goroutine; the
// main loop calls own before restoring a partition, which stops the tailing
// of it and waits for any batch in progress.
type standbys struct {
	w  *Worker
	cl *kgo.Client

	mu      sync.Mutex
	owned   map[int32]bool // partitions the main loop owns: never tailed
	tailing map[int32]bool
}

func newStandbys(w *Worker) (*standbys, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: {}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.WithLogger(kafkalog.New(w.log)),
	)
	if err != nil {
		return nil, err
	}
	return &standbys{w: w, cl: cl, owned: map[int32]bool{}, tailing: map[int32]bool{}}, nil
}

// own marks p owned by the main loop: tailing stops before own returns.
func (s *standbys) own(p int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owned[p] = true
	if s.tailing[p] {
		delete(s.tailing, p)
		s.cl.RemoveConsumePartitions(map[string][]int32{topics.Changelog: {p}})
	}
}

// disown marks p no longer owned; the next plan may tail it.
func (s *standbys) disown(p int32) {
	s.mu.Lock()
	delete(s.owned, p)
	s.mu.Unlock()
}

// run tails until ctx ends.
func (s *standbys) run(ctx context.Context) {
	defer s.cl.Close()
	var next time.Time
	for ctx.Err() == nil {
		if time.Now().After(next) {
			s.replan(ctx)
			next = time.Now().Add(standbyRefresh)
		}
		pollCtx, cancel := context.WithTimeout(ctx, standbyRefresh)
		fetches := s.cl.PollFetches(pollCtx)
		cancel()
		if err := s.apply(fetches); err != nil {
			s.w.log.Error("standby copy failed; it will be rebuilt on takeover", "err", err)
		}
	}
}

// replan computes this worker's standby partitions from the group's
// current assignment and starts or stops tailing accordingly.
func (s *standbys) replan(ctx context.Context) {
	members, err := s.w.groupMembers(ctx)
	if err != nil {
		s.w.log.Debug("cannot describe the group for standbys", "err", err)
		return
	}
	want := map[int32]bool{}
	for _, p := range standby.Plan(members, s.w.cfg.StandbyReplicas)[ClientIDPrefix+s.w.cfg.ID] {
		want[p] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stop []int32
	for p := range s.tailing {
		if !want[p] {
			stop = append(stop, p)
			delete(s.tailing, p)
		}
	}
	if len(stop) > 0 {
		s.cl.RemoveConsumePartitions(map[string][]int32{topics.Changelog: stop})
	}
	start := map[int32]kgo.Offset{}
	for p := range want {
		if s.tailing[p] || s.owned[p] {
			continue
		}
		next, err := s.w.store.ChangelogNext(p)
		if err != nil {
			s.w.log.Error("cannot read the local changelog offset", "partition", p, "err", err)
			continue
		}
		start[p] = kgo.NewOffset().At(next)
		s.tailing[p] = true
	}
	if len(start) > 0 {
		s.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: start})
	}
	if len(stop) > 0 || len(start) > 0 {
		s.w.log.Info("standby partitions changed", "tailing", sortedKeys(s.tailing))
	}
	s.w.m.Standbys.Set(float64(len(s.tailing)))
}

// apply writes the fetched changelog records of partitions still tailed.
func (s *standbys) apply(fetches kgo.Fetches) error {
	if fetches.NumRecords() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.w.store.NewBatch()
	var err error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || !s.tailing[fp.Partition] || len(fp.Records) == 0 {
			return
		}
		for _, r := range fp.Records {
			if r.Attrs.IsControl() {
				continue
			}
			if err = b.Replay(fp.Partition, r.Key, r.Value); err != nil {
				return
			}
		}
		err = b.SetChangelogNext(fp.Partition, fp.Records[len(fp.Records)-1].Offset+1)
		s.w.m.StandbyRecords.Add(float64(len(fp.Records)))
	})
	if err != nil {
		b.Discard()
		return err
	}
	return b.Commit()
}

// groupMembers describes the workers' group: each member's client id and
// the partitions of the partitioned topic it owns.
func (w *Worker) groupMembers(ctx context.Context) ([]standby.Member, error) {
	described, err := w.adm.DescribeGroups(ctx, w.cfg.Group)
	if err != nil {
		return nil, err
	}
	g, ok := described[w.cfg.Group]
	if !ok || g.Err != nil {
		return nil, g.Err
	}
	var members []standby.Member
	for _, m := range g.Members {
		if !strings.HasPrefix(m.ClientID, ClientIDPrefix) {
			continue
		}
		mem := standby.Member{ID: m.ClientID}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				if t.Topic == topics.Partitioned {
					mem.Owned = append(mem.Owned, t.Partitions...)
				}
			}
		}
		members = append(members, mem)
	}
	return members, nil
}

func sortedKeys(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
