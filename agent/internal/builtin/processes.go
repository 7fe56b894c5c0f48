package builtin

import (
	"context"
	"strconv"
	"strings"
)

var processesTable = &tableDef{
	name: "processes",
	columns: cols("pid BIGINT", "name TEXT", "path TEXT", "cmdline TEXT", "state TEXT", "cwd TEXT",
		"root TEXT", "uid BIGINT", "gid BIGINT", "euid BIGINT", "egid BIGINT", "suid BIGINT",
		"sgid BIGINT", "on_disk INTEGER", "wired_size BIGINT", "resident_size BIGINT",
		"total_size BIGINT", "user_time BIGINT", "system_time BIGINT", "disk_bytes_read BIGINT",
		"disk_bytes_written BIGINT", "start_time BIGINT", "parent BIGINT", "pgroup BIGINT",
		"threads INTEGER", "nice INTEGER", "cgroup_path TEXT"),
	gen: genProcesses,
}

// clockTicks is USER_HZ, fixed at 100 by the Linux ABI on every
// architecture Go supports, so no sysconf call is needed.
const clockTicks = 100

// procStat holds the fields of /proc/<pid>/stat that processes exposes.
type procStat struct {
	comm, state                    string
	ppid, pgrp, utime, stime, nice int64
	threads, startTicks            int64
}

// parseProcStat parses /proc/<pid>/stat. comm may contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (procStat, bool) {
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return procStat{}, false
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return procStat{
		comm: s[open+1 : end], state: f[0], ppid: n(1), pgrp: n(2),
		utime: n(11), stime: n(12), nice: n(16), threads: n(17), startTicks: n(19),
	}, true
}

// procStatus holds the fields of /proc/<pid>/status.
type procStatus struct {
	name          string
	uid, gid      [3]string // real, effective, saved
	rssKB, vmKB   int64
	hasRSS, hasVM bool
}

func parseProcStatus(b []byte) procStatus {
	var st procStatus
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		switch k {
		case "Name":
			st.name = strings.TrimSpace(v)
		case "Uid", "Gid":
			if len(f) >= 3 {
				ids := [3]string{f[0], f[1], f[2]}
				if k == "Uid" {
					st.uid = ids
				} else {
					st.gid = ids
				}
			}
		case "VmRSS", "VmSize":
			if len(f) == 0 {
				continue
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			if k == "VmRSS" {
				st.rssKB, st.hasRSS = kb, true
			} else {
				st.vmKB, st.hasVM = kb, true
			}
		}
	}
	return st
}

// parseProcIO returns bytes read and written (net of cancelled writes).
func parseProcIO(b []byte) (read, written int64, ok bool) {
	var cancelled int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "read_bytes":
			read, ok = n, true
		case "write_bytes":
			written = n
		case "cancelled_write_bytes":
			cancelled = n
		}
	}
	return read, written - cancelled, ok
}

// bootTime is btime from /proc/stat, falling back to now - uptime.
func (e *Engine) bootTime() int64 {
	b, _ := e.fs.read("/proc/stat")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if t, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return t
			}
		}
	}
	if up, err := e.fs.read("/proc/uptime"); err == nil {
		if secs, ok := parseUptime(up); ok {
			return e.now().Unix() - secs
		}
	}
	return 0
}

func genProcesses(ctx context.Context, e *Engine) ([]row, error) {
	boot := e.bootTime()
	var rows []row
	for _, name := range e.fs.list("/proc") {
		if _, err := strconv.ParseUint(name, 10, 64); err != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// A process may exit while it is read; like osquery, skip it.
		if r, ok := e.processRow(name, boot); ok {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func (e *Engine) processRow(pid string, boot int64) (row, bool) {
	dir := "/proc/" + pid
	raw, err := e.fs.read(dir + "/stat")
	if err != nil {
		return nil, false
	}
	ps, ok := parseProcStat(raw)
	if !ok {
		return nil, false
	}
	statusRaw, err := e.fs.read(dir + "/status")
	if err != nil {
		return nil, false
	}
	st := parseProcStatus(statusRaw)
	pidN, _ := strconv.ParseInt(pid, 10, 64)
	cmd, _ := e.fs.read(dir + "/cmdline")
	path := e.fs.readlink(dir + "/exe")
	r := row{
		"pid": pidN, "name": firstNonEmpty(st.name, ps.comm), "path": path,
		"cmdline": strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")),
		"state":   ps.state, "cwd": e.fs.readlink(dir + "/cwd"), "root": e.fs.readlink(dir + "/root"),
		"uid": st.uid[0], "euid": st.uid[1], "suid": st.uid[2],
		"gid": st.gid[0], "egid": st.gid[1], "sgid": st.gid[2],
		"wired_size": int64(0),
		"user_time":  ps.utime * 1000 / clockTicks, "system_time": ps.stime * 1000 / clockTicks,
		"start_time": int64(-1), "parent": ps.ppid, "pgroup": ps.pgrp,
		"threads": ps.threads, "nice": ps.nice, "cgroup_path": parseCgroupPath(e.fs.readString(dir + "/cgroup")),
	}
	r["on_disk"], r["path"] = e.onDisk(path)
	// osquery multiplies the kB figures by 1000, not 1024; kept for parity.
	if st.hasRSS {
		r["resident_size"] = st.rssKB * 1000
	}
	if st.hasVM {
		r["total_size"] = st.vmKB * 1000
	}
	if boot > 0 {
		r["start_time"] = boot + ps.startTicks/clockTicks
	}
	if io, err := e.fs.read(dir + "/io"); err == nil {
		if rd, wr, ok := parseProcIO(io); ok {
			r["disk_bytes_read"], r["disk_bytes_written"] = rd, wr
		}
	}
	for _, k := range []string{"uid", "euid", "suid", "gid", "egid", "sgid"} {
		if r[k] == "" {
			r[k] = nil
		}
	}
	return r, true
}

// onDisk is 1 when the executable exists, 0 when it was deleted or is
// missing, -1 when unknown (kernel threads have no exe link).
func (e *Engine) onDisk(path string) (int64, string) {
	if path == "" {
		return -1, path
	}
	if trimmed, ok := strings.CutSuffix(path, " (deleted)"); ok && !e.fs.exists(path) {
		return 0, trimmed
	}
	if e.fs.exists(path) {
		return 1, path
	}
	return 0, path
}

// parseCgroupPath returns the path of the first /proc/<pid>/cgroup line
// ("0::/user.slice" -> "/user.slice").
func parseCgroupPath(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	_, rest, ok := strings.Cut(line, ":")
	if !ok {
		return ""
	}
	_, p, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return p
}
