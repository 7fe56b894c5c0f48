//go:build !linux

package scaleout_test

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
