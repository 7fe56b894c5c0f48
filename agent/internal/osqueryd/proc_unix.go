//go:build !windows

package osqueryd

import (
	"errors"
	"os"
	"syscall"
)

// osqueryd runs in its own process group, so that signals reach its
// watchdog worker too and a terminal's Ctrl-C reaches only the agent, which
// then stops osqueryd in order.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// terminate asks the process group to exit.
func terminate(p *os.Process) error { return signalGroup(p.Pid, syscall.SIGTERM) }

// kill ends the process group, including a worker its watcher left behind.
func kill(p *os.Process) error { return signalGroup(p.Pid, syscall.SIGKILL) }

func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}

// socketID identifies the socket file at path (inode and modification
// time: a freed inode number is often reused at once), so that waiting for
// a new osqueryd is not fooled by an old instance still answering on the
// old file. ok is false when there is no file.
func socketID(path string) (id uint64, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	id = uint64(fi.ModTime().UnixNano())
	if st, isUnix := fi.Sys().(*syscall.Stat_t); isUnix {
		id = id*31 + uint64(st.Ino)
	}
	return id, true
}

// writableDir reports whether the agent may create files in dir.
func writableDir(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir() && syscall.Access(dir, 2 /* W_OK */) == nil
}
