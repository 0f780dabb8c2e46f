package diskspace

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

func TestGuardRefusesBelowTheReserve(t *testing.T) {
	free := uint64(1 << 30)
	g := NewGuard("/data", 100<<20).WithFree(func(string) (uint64, error) { return free, nil })
	if err := g.Check(); err != nil {
		t.Fatalf("1 GiB free, 100 MiB reserve: %v", err)
	}
	free = 10 << 20
	g.at = time.Time{} // the next check reads again
	err := g.Check()
	var le *LowError
	if !errors.As(err, &le) || le.Free != 10<<20 || !errors.Is(err, syscall.ENOSPC) || !IsLow(err) {
		t.Fatalf("10 MiB free: %v, want a LowError matching ENOSPC", err)
	}
	if want := "disk almost full: /data has 10.0 MiB free, below the reserve of 100.0 MiB (--min-free-disk); free some space"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	free = 1 << 30
	if g.Check() == nil {
		t.Fatal("a reading is trusted for a quarter second; the space came back too early")
	}
	g.at = time.Time{}
	if err := g.Check(); err != nil {
		t.Fatalf("space back: %v", err)
	}
}

func TestGuardOffAndUnreadable(t *testing.T) {
	if err := NewGuard("/data", 0).WithFree(func(string) (uint64, error) { return 0, nil }).Check(); err != nil {
		t.Fatalf("reserve 0 disables the guard: %v", err)
	}
	if err := NewGuard("/data", 1).WithFree(func(string) (uint64, error) { return 0, errors.New("statfs failed") }).Check(); err != nil {
		t.Fatalf("an unreadable free space lets writes meet the real error: %v", err)
	}
	var g *Guard
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFreeReadsTheFilesystem(t *testing.T) {
	n, err := Free(t.TempDir())
	if err != nil || n == 0 {
		t.Fatalf("Free: %d, %v", n, err)
	}
}
