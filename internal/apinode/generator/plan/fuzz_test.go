package plan

import (
	"testing"

	"github.com/counter-dev/counter/internal/pipeline/videoid"
)

// FuzzParseRequest: any body is refused or yields a valid schedule.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"videos":{"a":[1,2,3,4,5,6,7,8,9,10]}}`))
	f.Add([]byte(`{"videos":{"a":[0,0,0,0,0,0,0,0,0,0],"b":[10000,0,0,0,0,0,0,0,0,1]}}`))
	f.Add([]byte(`{"videos":{"":[]}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			return
		}
		total := 0
		for i, v := range req.Videos {
			if videoid.ValidateString(v.ID) != nil || len(v.Likes) != Steps || (i > 0 && req.Videos[i-1].ID >= v.ID) {
				t.Fatalf("invalid schedule accepted: %+v", req)
			}
			for _, n := range v.Likes {
				if n < 0 || n > MaxLikesPerStep {
					t.Fatalf("likes out of range: %+v", req)
				}
				total += n
			}
		}
		if total == 0 || len(req.Videos) > MaxVideos {
			t.Fatalf("empty or too large schedule accepted: %+v", req)
		}
	})
}
