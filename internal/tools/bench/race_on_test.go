//go:build race

package bench

// raceEnabled reports whether the tests run with the race detector.
const raceEnabled = true
