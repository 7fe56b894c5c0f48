//go:build !linux

package osqueryd

import (
	"github.com/shirou/gopsutil/v4/process"
)

// treeRSS returns the largest resident set size, in bytes, among pid and
// its direct children (osqueryd's watcher and its worker).
func treeRSS(pid int) (int64, error) {
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		return 0, err
	}
	mi, err := p.MemoryInfo()
	if err != nil {
		return 0, err
	}
	largest := int64(mi.RSS)
	kids, _ := p.Children()
	for _, k := range kids {
		if m, err := k.MemoryInfo(); err == nil {
			largest = max(largest, int64(m.RSS))
		}
	}
	return largest, nil
}
