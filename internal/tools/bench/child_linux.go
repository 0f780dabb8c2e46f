package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the child if this process dies first,
// so that an interrupted benchmark leaves no worker behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
