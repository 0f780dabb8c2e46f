package bench

import (
	"os"
	"path/filepath"
	"runtime/pprof"
)

// startProfile starts a CPU profile of this process into
// ProfileDir/<name>.cpu.pprof during the first run, when profiling is on,
// and returns the function that stops it. Profiling problems are logged,
// not fatal.
func startProfile(o Options, run int, name string) (stop func()) {
	if o.ProfileDir == "" || run != 0 {
		return func() {}
	}
	if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
		o.Logger.Warn("bench: no CPU profile", "err", err)
		return func() {}
	}
	path := filepath.Join(o.ProfileDir, name+".cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		o.Logger.Warn("bench: no CPU profile", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		o.Logger.Warn("bench: no CPU profile", "err", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		o.Logger.Info("bench: CPU profile written", "path", path)
	}
}
