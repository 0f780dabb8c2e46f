// Package diskspace keeps a reserve of free disk space: a process stops
// writing while the free space of its data directory's filesystem is below
// the reserve, so that it fails cleanly — a refused write, a clear error —
// rather than at ENOSPC in the middle of a write it cannot undo.
package diskspace

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// DefaultReserve is the free space kept by default: room for the
// transaction markers, offsets and checkpoints that finish the work in
// flight, and for the compactions that free space again.
const DefaultReserve = 256 << 20

// recheck is how long a reading of the free space is trusted.
const recheck = 250 * time.Millisecond

// LowError is the error of a write refused because the free space is
// below the reserve. It matches syscall.ENOSPC with errors.Is.
type LowError struct {
	Dir           string
	Free, Reserve uint64
}

func (e *LowError) Error() string {
	return fmt.Sprintf("disk almost full: %s has %s free, below the reserve of %s (--min-free-disk); free some space",
		e.Dir, Bytes(e.Free), Bytes(e.Reserve))
}

// Is makes a LowError match syscall.ENOSPC.
func (e *LowError) Is(target error) bool { return target == syscall.ENOSPC }

// Guard watches the free space of one directory's filesystem.
type Guard struct {
	dir     string
	reserve uint64
	free    func(string) (uint64, error)

	mu    sync.Mutex
	at    time.Time // of the last reading
	avail uint64
	err   error
}

// NewGuard returns a guard of dir's filesystem keeping reserve bytes free
// (0 disables it).
func NewGuard(dir string, reserve uint64) *Guard {
	return &Guard{dir: dir, reserve: reserve, free: Free}
}

// WithFree replaces how the guard reads the free space (for tests).
func (g *Guard) WithFree(free func(dir string) (uint64, error)) *Guard {
	g.free = free
	return g
}

// Check returns a *LowError when the free space is below the reserve, and
// nil otherwise (also when the free space cannot be read: the write then
// meets the real error, if any). A reading is reused for a quarter second.
func (g *Guard) Check() error {
	if g == nil || g.reserve == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.at) >= recheck {
		g.avail, g.err = g.free(g.dir)
		g.at = time.Now()
	}
	if g.err == nil && g.avail < g.reserve {
		return &LowError{Dir: g.dir, Free: g.avail, Reserve: g.reserve}
	}
	return nil
}

// IsLow reports whether err is (or wraps) a refusal for lack of space, the
// guard's or the filesystem's own.
func IsLow(err error) bool {
	var le *LowError
	return errors.As(err, &le) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Bytes formats a byte count for people.
func Bytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
