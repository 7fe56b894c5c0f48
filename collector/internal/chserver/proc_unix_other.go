//go:build unix && !linux

package chserver

import "syscall"

// See proc_linux.go; Pdeathsig exists only on Linux.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
