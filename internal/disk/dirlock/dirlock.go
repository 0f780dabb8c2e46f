// Package dirlock guards a data directory against a second process: an
// exclusive advisory lock (flock) on a file in the directory, taken before
// anything else opens the directory's files and held until the process
// releases it or exits (the kernel drops the lock of a dead process, so a
// crash never leaves a stale lock behind).
package dirlock

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// FileName is the lock file created in a locked directory. It holds the
// process id of the holder, for the error message of the next one.
const FileName = "counter.lock"

// Lock is a held directory lock.
type Lock struct {
	f   *os.File
	dir string
}

// HeldError is returned by Acquire when another process holds the lock.
type HeldError struct {
	// Dir is the locked directory.
	Dir string
	// PID is the process id of the holder, 0 if unknown.
	PID int
}

func (e *HeldError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("directory %s is in use by %s: it holds the lock %s; stop that process or use another directory",
		e.Dir, holder, filepath.Join(e.Dir, FileName))
}

// ErrUnsupported is returned by Acquire on platforms without flock.
var ErrUnsupported = errors.New("directory locks are not supported on this platform")

// Acquire creates dir if needed and locks it without waiting: if another
// process (or another Lock of this process) holds it, Acquire returns a
// *HeldError at once and changes nothing in dir.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		if errors.Is(err, ErrUnsupported) {
			return &Lock{dir: dir}, nil // nothing to hold: see lock_other.go
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if held {
		pid := readPID(f)
		f.Close()
		return nil, &HeldError{Dir: dir, PID: pid}
	}
	// Ours: record our pid for the error message of the next process.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, dir: dir}, nil
}

// Dir returns the locked directory.
func (l *Lock) Dir() string { return l.dir }

// Release unlocks the directory. The lock file stays (removing it would let
// a third process lock a new file while a second one holds the old).
// Release of a nil Lock does nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	return err
}

func readPID(f *os.File) int {
	var buf [32]byte
	n, _ := f.ReadAt(buf[:], 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
