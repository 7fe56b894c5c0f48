//go:build unix

package chserver

import (
	"os"
	"syscall"
)

// signalGroup signals the whole process group so helper processes the
// server may have spawned (odbc/library bridges in current versions) go
// with it. Exactly one signal reaches the server: current versions treat a
// second SIGTERM as "terminate immediately".
func signalGroup(p *os.Process, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		return p.Signal(sig)
	}
	return nil
}
