package bench

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// outputCheck is what verifyOutputs found.
type outputCheck struct {
	updates int64 // final:false records
	finals  int64 // final:true records
}

// verifyOutputs reads every output topic read_committed and checks the
// pipeline's result for a backlog of n likes: for every window size, the
// final:true counts add up to n, every (video, window) has exactly one
// final, and there are as many finals as distinct (video, window) pairs in
// the backlog. With counts (the likes of every (video, window) by
// finalKey), every final must also hold exactly its window's likes. It also
// checks that nothing was dead-lettered.
func verifyOutputs(ctx context.Context, c *cluster, n int64, want, counts map[string]int64) (outputCheck, error) {
	var chk outputCheck
	dead, err := c.stableEnds(ctx, topics.DeadLetter)
	if err != nil {
		return chk, err
	}
	if total(dead) != 0 {
		return chk, fmt.Errorf("%d records were dead-lettered", total(dead))
	}
	ends := map[string]map[int32]int64{}
	pol := policy()
	for _, s := range pol.Sizes {
		if ends[topics.Output(s)], err = c.stableEnds(ctx, topics.Output(s)); err != nil {
			return chk, err
		}
	}
	sums := map[string]int64{}
	got := map[string]int64{}
	seen := map[string]struct{}{}
	var wrong []string // the first finals with a wrong count
	var nwrong int
	var bad error
	err = consume(ctx, c.brokers, ends, func(r *kgo.Record) {
		if bytes.HasSuffix(r.Value, []byte(`"final":false}`)) {
			chk.updates++
			return
		}
		a, err := record.ParseAggregation(r.Value)
		if err != nil || !a.Final {
			if bad == nil {
				bad = fmt.Errorf("unexpected output record %q: %v", r.Value, err)
			}
			return
		}
		chk.finals++
		key := finalKey(a.Type, a.VideoUID, a.WindowStart.UnixMilli())
		if _, dup := seen[key]; dup && bad == nil {
			bad = fmt.Errorf("two finals for %s", key)
		}
		if counts != nil && int64(a.Count) != counts[key] {
			if len(wrong) < 5 {
				wrong = append(wrong, fmt.Sprintf("%s: final %d, want %d", key, a.Count, counts[key]))
			}
			nwrong++
		}
		seen[key] = struct{}{}
		sums[a.Type] += int64(a.Count)
		got[a.Type]++
	})
	if err != nil {
		return chk, err
	}
	if bad != nil {
		return chk, bad
	}
	var problems []string
	for _, s := range pol.Sizes {
		if sums[s.Label] != n {
			problems = append(problems, fmt.Sprintf("%s finals add up to %d, want %d", s.Label, sums[s.Label], n))
		}
		if got[s.Label] != want[s.Label] {
			problems = append(problems, fmt.Sprintf("%d %s finals, want %d (one per video and window)", got[s.Label], s.Label, want[s.Label]))
		}
	}
	if nwrong > 0 {
		problems = append(problems, fmt.Sprintf("%d finals hold a wrong count (%s)", nwrong, strings.Join(wrong, ", ")))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return chk, fmt.Errorf("wrong result: %s", strings.Join(problems, "; "))
	}
	return chk, nil
}
