//go:build !linux

package builtin

import "runtime"

// The tables read Linux interfaces (/proc, /sys); elsewhere the package
// still builds so the agent can link it, but live-only data is absent.
func machineArch() string { return runtime.GOARCH }

type fsStats struct {
	blockSize, blocks, blocksFree, blocksAvail, inodes, inodesFree int64
}

func statfs(string) (fsStats, bool) { return fsStats{}, false }
