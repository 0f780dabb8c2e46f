package worker

import (
	"errors"
	"syscall"
)

// restartCannotMend marks a failure that a restart of the worker cannot mend:
// a bad configuration, a state store that cannot be opened.
type restartCannotMend struct{ err error }

func (e restartCannotMend) Error() string { return e.err.Error() }
func (e restartCannotMend) Unwrap() error { return e.err }

// cannotRestart wraps err as a failure a restart cannot mend.
func cannotRestart(err error) error { return restartCannotMend{err} }

// Permanent reports whether a failure of New or Run is one that starting the
// worker again cannot mend — a bad configuration, a state store that cannot
// be opened (another process holds it, or it is corrupt), a full or
// read-only disk — so that a supervisor stops with the error rather than
// retrying. Any other failure (a lost broker, a fenced producer, a broker
// restart) is mended by starting the worker again: its state is safe in the
// store and the changelog.
func Permanent(err error) bool {
	var p restartCannotMend
	return errors.As(err, &p) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT)
}
