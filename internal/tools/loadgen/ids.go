// Package loadgen generates like traffic for benchmarks and for counter-tools load:
// video ids drawn uniformly or from a Zipf distribution, sent as HTTP
// requests over keep-alive connections or produced straight into Kafka,
// paced to a rate or as fast as the target allows, with live counters and
// latency percentiles.
package loadgen

import (
	"fmt"
	"math/rand/v2"
)

// ZipfS is the exponent of the Zipf distribution of video popularity: the
// video of rank k gets a share proportional to 1/(k+1)^ZipfS, so the first
// 1% of 100,000 videos draw about half the likes.
const ZipfS = 1.1

// Distribution is how video ids are drawn.
type Distribution string

// The distributions.
const (
	Uniform Distribution = "uniform"
	Zipf    Distribution = "zipf"
)

// ParseDistribution parses "uniform" or "zipf".
func ParseDistribution(s string) (Distribution, error) {
	switch d := Distribution(s); d {
	case Uniform, Zipf:
		return d, nil
	}
	return "", fmt.Errorf("distribution %q: want uniform or zipf", s)
}

// VideoID returns the id of video i: a stable, valid, UUID-shaped string
// (36 characters, like the ids of the original system), distinct for every
// i that matters here.
func VideoID(i int) string {
	h1 := mix(uint64(i))
	h2 := mix(h1 ^ 0x9e3779b97f4a7c15)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		uint32(h1>>32), uint16(h1>>16), uint16(h1)&0xfff, uint16(h2>>48)&0x3fff|0x8000, h2&0xffffffffffff)
}

// VideoIDs returns the ids of videos 0 to n-1.
func VideoIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = VideoID(i)
	}
	return ids
}

// mix is the splitmix64 finalizer, a bijection on 64-bit values.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Picker draws video indexes in [0, n). It is not safe for concurrent use:
// give each goroutine its own.
type Picker struct {
	n    uint64
	rng  *rand.Rand
	zipf *rand.Zipf
}

// NewPicker returns a picker over n videos, seeded with seed.
func NewPicker(d Distribution, n int, seed uint64) (*Picker, error) {
	if n < 1 {
		return nil, fmt.Errorf("videos %d: want at least 1", n)
	}
	p := &Picker{n: uint64(n), rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
	switch d {
	case Uniform:
	case Zipf:
		p.zipf = rand.NewZipf(p.rng, ZipfS, 1, uint64(n-1))
	default:
		return nil, fmt.Errorf("unknown distribution %q", d)
	}
	return p, nil
}

// Next returns the next video index. Under Zipf, index 0 is the most
// popular.
func (p *Picker) Next() int {
	if p.zipf != nil {
		return int(p.zipf.Uint64())
	}
	return int(p.rng.Uint64N(p.n))
}
