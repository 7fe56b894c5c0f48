package osqueryd

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// treeRSS returns the largest resident set size, in bytes, among pid and
// its descendants (osqueryd's watcher and its worker), read from /proc.
func treeRSS(pid int) (int64, error) {
	return procTreeRSS("/proc", pid)
}

func procTreeRSS(proc string, pid int) (int64, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return 0, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", proc, p))
		if err != nil {
			continue // exited meanwhile
		}
		if ppid, ok := parseStatPPID(b); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var largest int64
	found := false
	for queue, seen := []int{pid}, map[int]bool{}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		if seen[p] {
			continue
		}
		seen[p] = true
		queue = append(queue, children[p]...)
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/status", proc, p))
		if err != nil {
			continue
		}
		if rss, ok := parseVmRSS(b); ok {
			found = true
			largest = max(largest, rss)
		}
	}
	if !found {
		return 0, fmt.Errorf("osqueryd: no memory figures for pid %d", pid)
	}
	return largest, nil
}

// parseVmRSS reads "VmRSS:   12345 kB" from /proc/<pid>/status, in bytes.
// Kernel threads and zombies have no VmRSS line.
func parseVmRSS(status []byte) (int64, bool) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// parseStatPPID reads the parent pid from /proc/<pid>/stat: the fields
// after the command name, which is in parentheses and may itself contain
// spaces and parentheses, are "state ppid ...".
func parseStatPPID(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return ppid, err == nil
}
