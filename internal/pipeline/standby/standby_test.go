package standby

import (
	"reflect"
	"testing"
)

func TestPlan(t *testing.T) {
	members := []Member{
		{ID: "w2", Owned: []int32{2, 5}},
		{ID: "w0", Owned: []int32{0, 3}},
		{ID: "w1", Owned: []int32{1, 4}},
	}
	got := Plan(members, 1)
	want := map[string][]int32{"w1": {0, 3}, "w2": {1, 4}, "w0": {2, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("one replica: %v, want %v", got, want)
	}
	got = Plan(members, 5) // capped at two: every other member
	want = map[string][]int32{"w0": {1, 2, 4, 5}, "w1": {0, 2, 3, 5}, "w2": {0, 1, 3, 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("all replicas: %v, want %v", got, want)
	}
	// Nobody keeps a standby of a partition it owns.
	for id, parts := range Plan(members, 2) {
		for _, m := range members {
			if m.ID != id {
				continue
			}
			for _, p := range parts {
				for _, o := range m.Owned {
					if p == o {
						t.Errorf("%s is standby of its own partition %d", id, p)
					}
				}
			}
		}
	}
	if len(Plan(members[:1], 1)) != 0 || len(Plan(members, 0)) != 0 {
		t.Error("standbys with one member or zero replicas")
	}
}
