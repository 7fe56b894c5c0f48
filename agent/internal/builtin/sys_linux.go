//go:build linux

package builtin

import "syscall"

// machineArch is uname's machine field; it always describes the running
// kernel, even when Root points elsewhere.
func machineArch() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	b := make([]byte, 0, len(u.Machine))
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

type fsStats struct {
	blockSize, blocks, blocksFree, blocksAvail, inodes, inodesFree int64
}

func statfs(path string) (fsStats, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsStats{}, false
	}
	return fsStats{
		blockSize:   int64(st.Bsize),
		blocks:      int64(st.Blocks),
		blocksFree:  int64(st.Bfree),
		blocksAvail: int64(st.Bavail),
		inodes:      int64(st.Files),
		inodesFree:  int64(st.Ffree),
	}, true
}
