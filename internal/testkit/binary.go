package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithCounter runs a test binary's tests (call it from TestMain) with a
// counter executable built from pkgDir (the path of cmd/counter relative to
// the test's package) into a temporary directory; it stores its path in
// *binary first and removes it after the tests. It exits the process.
func MainWithCounter(m *testing.M, pkgDir string, binary *string) {
	dir, err := os.MkdirTemp("", "counter-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = filepath.Join(dir, "counter")
	if out, err := exec.Command("go", "build", "-o", *binary, pkgDir).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building counter: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
