package live

import (
	"encoding/json"
	"testing"

	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

// FuzzParseRooms: any payload is refused or yields distinct valid ids,
// within the limit.
func FuzzParseRooms(f *testing.F) {
	f.Add([]byte(`{"rooms":["a","b"]}`))
	f.Add([]byte(`{"rooms":[1,null]}`))
	f.Add([]byte(`"rooms"`))
	f.Add([]byte(`{"rooms":["a","a","a","a"]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ids, err := parseRooms([]json.RawMessage{payload}, 3)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if videoid.ValidateString(id) != nil || seen[id] {
				t.Fatalf("bad or duplicate id accepted: %q", ids)
			}
			seen[id] = true
		}
		if len(ids) > 3 {
			t.Fatalf("%d ids accepted, limit 3", len(ids))
		}
	})
}
