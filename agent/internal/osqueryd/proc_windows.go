//go:build windows

package osqueryd

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// terminate: Windows has no SIGTERM for a service's child; osqueryd's
// watcher and worker are ended outright.
func terminate(p *os.Process) error { return kill(p) }

func kill(p *os.Process) error {
	if err := p.Kill(); err != nil && err != os.ErrProcessDone {
		return err
	}
	return nil
}

// socketID: named pipes have no file to inspect; readiness is decided by
// a successful ping alone.
func socketID(string) (uint64, bool) { return 0, true }

// writableDir: there is no /var/run; Windows uses named pipes.
func writableDir(string) bool { return false }
