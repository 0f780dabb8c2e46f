//go:build !linux

package bench

import "os/exec"

// dieWithParent does nothing where the kernel cannot tie a child's life to
// its parent's; the scenarios stop their children themselves.
func dieWithParent(*exec.Cmd) {}
