package builtin

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
)

var usersTable = &tableDef{
	name: "users",
	columns: cols("uid BIGINT", "gid BIGINT", "uid_signed BIGINT", "gid_signed BIGINT", "username TEXT",
		"description TEXT", "directory TEXT", "shell TEXT", "uuid TEXT"),
	gen: genUsers,
}

type passwdEntry struct {
	username, gecos, home, shell string
	uid, gid                     uint32
}

// parsePasswd reads passwd(5) lines. NIS "+"/"-" compat entries and
// malformed lines are skipped rather than failing the whole table.
func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{username: f[0], uid: uint32(uid), gid: uint32(gid),
			gecos: f[4], home: f[5], shell: f[6]})
	}
	return out
}

func (e *Engine) passwd() ([]passwdEntry, error) {
	b, err := e.fs.read("/etc/passwd")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parsePasswd(b), nil
}

func genUsers(_ context.Context, e *Engine) ([]row, error) {
	entries, err := e.passwd()
	if err != nil {
		return nil, err
	}
	rows := make([]row, 0, len(entries))
	for _, p := range entries {
		rows = append(rows, row{
			"uid": int64(p.uid), "gid": int64(p.gid),
			// uid_signed shows ids such as nobody's 4294967294 as -2.
			"uid_signed": int64(int32(p.uid)), "gid_signed": int64(int32(p.gid)),
			"username": p.username, "description": p.gecos, "directory": p.home, "shell": p.shell, "uuid": "",
		})
	}
	return rows, nil
}
