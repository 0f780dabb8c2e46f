package catalog

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

func TestSamplesStableAndValid(t *testing.T) {
	a, b := Samples(), Samples()
	if len(a) < 2 || !slices.Equal(a, b) {
		t.Fatalf("catalog not stable or too short: %v vs %v", a, b)
	}
	a[0].ID = "changed"
	if Samples()[0].ID != DemoID1 {
		t.Fatal("Samples returned shared storage")
	}
	seen := map[string]bool{}
	for _, v := range b {
		if err := videoid.ValidateString(v.ID); err != nil {
			t.Errorf("%q: %v", v.ID, err)
		}
		if v.Title == "" || seen[v.ID] {
			t.Errorf("empty title or duplicate id: %+v", v)
		}
		seen[v.ID] = true
	}
	for _, id := range DemoIDs {
		if !seen[id] {
			t.Errorf("demo id %s missing", id)
		}
	}
}

func TestVideoJSON(t *testing.T) {
	got, err := json.Marshal(Video{ID: "x", Title: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"unique_identifier":"x","title":"T"}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
