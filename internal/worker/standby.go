package worker

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
	"github.com/counter-dev/counter/internal/kafka/kafkalog"
	"github.com/counter-dev/counter/internal/pipeline/standby"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

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

	// Run goroutine only: where each tailed partition stood at the last
	// catch-up check, and the last look for records left before its end.
	stood  map[int32]int64
	probes map[int32]probeMemo
}

func newStandbys(w *Worker) (*standbys, error) {
	cl, err := kafkaconn.NewClient(w.cfg.Brokers, w.cfg.KafkaOpts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.Changelog: {}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.WithLogger(kafkalog.New(w.log)),
	)
	if err != nil {
		return nil, err
	}
	return &standbys{w: w, cl: cl, owned: map[int32]bool{}, tailing: map[int32]bool{},
		stood: map[int32]int64{}, probes: map[int32]probeMemo{}}, nil
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
			s.catchUp(ctx)
			next = time.Now().Add(standbyRefresh)
		}
		s.poll(ctx, standbyRefresh)
	}
}

// poll waits up to d for changelog records of the partitions tailed and
// writes them to the store.
func (s *standbys) poll(ctx context.Context, d time.Duration) {
	pollCtx, cancel := context.WithTimeout(ctx, d)
	fetches := s.cl.PollFetches(pollCtx)
	cancel()
	if err := s.apply(fetches); err != nil {
		s.w.log.Error("standby copy failed; it will be rebuilt on takeover", "err", err)
	}
}

// catchUp moves the changelog offset of tailed partitions that have stood
// still since the last call to their end, when nothing left before it is
// delivered to read_committed readers (aborted transactions, compacted
// batches: see skipInvisible). Otherwise a standby whose changelog ends in
// such offsets would never be up to date, and a takeover would read them
// again.
func (s *standbys) catchUp(ctx context.Context) {
	s.mu.Lock()
	parts := sortedKeys(s.tailing)
	s.mu.Unlock()
	var still []int32
	nexts := map[int32]int64{}
	for _, p := range parts {
		next, err := s.w.store.ChangelogNext(p)
		if err != nil {
			return
		}
		if prev, ok := s.stood[p]; ok && prev == next {
			still = append(still, p)
		}
		s.stood[p], nexts[p] = next, next
	}
	for p := range s.stood {
		if _, ok := nexts[p]; !ok {
			delete(s.stood, p)
			delete(s.probes, p)
		}
	}
	if len(still) == 0 {
		return
	}
	ends, err := s.w.adm.ListCommittedOffsets(ctx, topics.Changelog)
	if err != nil {
		s.w.log.Debug("cannot list changelog end offsets for standbys", "err", err)
		return
	}
	for _, p := range still {
		end, ok := ends.Lookup(topics.Changelog, p)
		from := nexts[p]
		if !ok || end.Err != nil || from >= end.Offset {
			continue
		}
		atEnd, known := s.probes[p].reaches(from, end.Offset)
		if !known {
			next, err := skipInvisible(ctx, s.w.kcl, topics.Changelog, p, from, end.Offset)
			if err != nil {
				s.w.log.Debug("cannot look ahead in a standby changelog", "partition", p, "err", err)
				continue
			}
			s.probes[p] = probeMemo{from: from, next: next, valid: true}
			atEnd = next >= end.Offset
		}
		if atEnd {
			if err := s.skipTo(p, from, end.Offset); err != nil {
				s.w.log.Error("standby copy failed; it will be rebuilt on takeover", "err", err)
			}
		}
	}
}

// skipTo records that partition p's changelog offset is end rather than
// from, if p is still tailed and nothing was applied meanwhile.
func (s *standbys) skipTo(p int32, from, end int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tailing[p] {
		return nil
	}
	if next, err := s.w.store.ChangelogNext(p); err != nil || next != from {
		return err
	}
	b := s.w.store.NewBatch()
	if err := b.SetChangelogNext(p, end); err != nil {
		b.Discard()
		return err
	}
	s.stood[p] = end
	s.w.log.Debug("standby skipped an invisible tail", "partition", p, "from", from, "to", end)
	return b.Commit()
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
	for _, p := range standby.Plan(members, s.w.cfg.StandbyReplicas)[topics.WorkerClientIDPrefix+s.w.cfg.ID] {
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
	started := s.tailLocked(sortedKeys(want))
	if len(stop) > 0 || started > 0 {
		s.w.log.Info("standby partitions changed", "tailing", sortedKeys(s.tailing))
	}
	s.w.m.Standbys.Set(float64(len(s.tailing)))
}

// tailLocked starts tailing the partitions parts not yet tailed nor owned,
// each from the changelog offset the store reflects, and returns how many
// it started. s.mu must be held.
func (s *standbys) tailLocked(parts []int32) int {
	start := map[int32]kgo.Offset{}
	for _, p := range parts {
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
	return len(start)
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
		if !strings.HasPrefix(m.ClientID, topics.WorkerClientIDPrefix) {
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
