package broker

import "github.com/counter-dev/counter/internal/disk/dirlock"

// lockDataDir locks the broker's data directory, so that a second broker
// on it is refused before kfake opens a file; an empty dir (in memory) needs
// no lock. The returned function releases it.
func lockDataDir(dir string) (release func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	l, err := dirlock.Acquire(dir)
	if err != nil {
		return nil, err
	}
	return func() { l.Release() }, nil
}
