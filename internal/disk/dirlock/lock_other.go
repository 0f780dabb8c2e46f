//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package dirlock

import "os"

// tryLock does not lock on platforms without flock: Acquire then succeeds
// without guarding the directory (Linux is the target platform).
func tryLock(*os.File) (bool, error) { return false, ErrUnsupported }
