package chserver

import "syscall"

// Its own process group keeps a terminal's Ctrl-C (sent to the foreground
// group) from killing the server behind our back; we stop it ourselves.
// Pdeathsig makes the kernel kill it if we die without Stop (test binary
// killed by a timeout, collector crash), so no orphan keeps the data dir
// locked. Pdeathsig fires when the thread that started the child exits;
// the Go runtime does not retire threads unless a goroutine exits while
// locked to one, so Start must not be called from such a goroutine.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
