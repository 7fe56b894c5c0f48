package scaleout_test

import "syscall"

// Pdeathsig: a collector must not outlive a test binary that dies without
// running its cleanups (a timeout, a crash).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
