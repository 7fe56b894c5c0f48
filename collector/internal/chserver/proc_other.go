//go:build !unix

package chserver

import (
	"os"
	"syscall"
)

// ClickHouse does not run natively on these systems; this only keeps the
// collector building everywhere.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func signalGroup(p *os.Process, _ bool) error { return p.Kill() }
