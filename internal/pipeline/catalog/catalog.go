// Package catalog holds the built-in list of sample videos: the catalog that
// GET /{stage}/videos/metadata serves, with stable identifiers.
package catalog

// The two fixed identifiers the demo generator sends likes for, as in the
// original system.
const (
	DemoID1 = "93f98662-8907-4f43-bb4c-280501481046"
	DemoID2 = "69e7266c-753e-4ed3-b7fc-9035133a293f"
)

// DemoIDs lists the demo generator's identifiers.
var DemoIDs = []string{DemoID1, DemoID2}

// Video is one catalog entry. The JSON field names are those of the original
// system's metadata endpoint.
type Video struct {
	ID    string `json:"unique_identifier"`
	Title string `json:"title"`
}

// samples is the fixed catalog. The identifiers must never change: clients
// keep them, and counts are keyed by them. The original system invented new
// random identifiers on every call, which broke every client.
var samples = [...]Video{
	{DemoID1, "Sunrise over the harbour"},
	{DemoID2, "Ten-minute pasta, no shortcuts"},
	{"6fe94feb-f61b-476c-9ab6-c84b32908640", "Street football in slow motion"},
	{"0be7ff99-03c6-4535-a4be-ce53926b3511", "How a mechanical watch keeps time"},
	{"2748cdc9-367b-48a6-9f9a-19ccbaca3fed", "First snow in the mountains"},
	{"d1adeb9d-108c-4a54-90e0-69863f1b6c5b", "Learning the drums in thirty days"},
	{"81030486-8ff9-42b5-b711-aa62ca1fd395", "A night train across the border"},
	{"627e3c64-66da-4e99-90cd-04de1184a1dd", "Building a bookshelf from pallets"},
}

// Samples returns the sample videos, the two demo videos first. Every call
// returns the same entries in the same order, in a new slice the caller may
// modify.
func Samples() []Video {
	out := make([]Video, len(samples))
	copy(out, samples[:])
	return out
}
