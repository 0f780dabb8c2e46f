// Package standby decides which worker keeps a warm copy of which partition:
// pure code shared by the workers (which tail those changelogs) and the API's
// cluster view (which shows them).
package standby

import "sort"

// Member is one worker of the group and the partitions it owns.
type Member struct {
	ID    string // stable worker identity (its Kafka client id)
	Owned []int32
}

// Plan returns, for each member ID, the partitions it keeps standby copies
// of: the owner of a partition is followed, in the ring of members sorted by
// ID, by its replicas standbys. Sorting by a stable identity keeps the plan
// the same across restarts, so a worker's warm state stays useful. With
// fewer than two members there are no standbys; replicas is capped at
// members-1.
func Plan(members []Member, replicas int) map[string][]int32 {
	out := map[string][]int32{}
	if len(members) < 2 || replicas < 1 {
		return out
	}
	ring := append([]Member(nil), members...)
	sort.Slice(ring, func(i, j int) bool { return ring[i].ID < ring[j].ID })
	replicas = min(replicas, len(ring)-1)
	for i, m := range ring {
		for _, p := range m.Owned {
			for r := 1; r <= replicas; r++ {
				sb := ring[(i+r)%len(ring)].ID
				out[sb] = append(out[sb], p)
			}
		}
	}
	for id := range out {
		sort.Slice(out[id], func(i, j int) bool { return out[id][i] < out[id][j] })
	}
	return out
}
