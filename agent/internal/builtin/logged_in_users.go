package builtin

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
)

// loggedInUsersTable is osquery's logged_in_users on Linux: the records of
// the utmp file (/var/run/utmp), i.e. what getutxent(3) returns.
var loggedInUsersTable = &tableDef{
	name:    "logged_in_users",
	columns: cols("type TEXT", "user TEXT", "tty TEXT", "host TEXT", "time BIGINT", "pid INTEGER"),
	gen:     genLoggedInUsers,
}

// utmpRecordSize is glibc's struct utmp on Linux, the same 384 bytes on
// 32- and 64-bit targets (ut_tv is two int32 there for compatibility).
const utmpRecordSize = 384

// Field offsets in struct utmp (glibc, Linux).
const (
	utmpType = 0   // short ut_type (+2 bytes padding)
	utmpPID  = 4   // pid_t ut_pid
	utmpLine = 8   // char ut_line[32]
	utmpUser = 44  // char ut_user[32] (after ut_id[4])
	utmpHost = 76  // char ut_host[256]
	utmpSec  = 340 // int32 ut_tv.tv_sec (after ut_exit, ut_session)
)

// utmpTypes are osquery's names for ut_type values.
var utmpTypes = map[int16]string{
	0: "empty", 1: "runlevel", 2: "boot_time", 3: "new_time", 4: "old_time",
	5: "init", 6: "login", 7: "user", 8: "dead", 9: "accounting",
}

// parseUtmp decodes utmp records (little-endian, as on x86 and arm). Like
// osquery it skips records of pid 1 (init's runlevel and boot entries) and
// names unknown types "unknown"; a trailing partial record is ignored.
func parseUtmp(b []byte) []row {
	var rows []row
	for ; len(b) >= utmpRecordSize; b = b[utmpRecordSize:] {
		rec := b[:utmpRecordSize]
		pid := int32(binary.LittleEndian.Uint32(rec[utmpPID:]))
		if pid == 1 {
			continue
		}
		typ, ok := utmpTypes[int16(binary.LittleEndian.Uint16(rec[utmpType:]))]
		if !ok {
			typ = "unknown"
		}
		rows = append(rows, row{
			"type": typ,
			"user": cString(rec[utmpUser : utmpUser+32]),
			"tty":  cString(rec[utmpLine : utmpLine+32]),
			"host": cString(rec[utmpHost : utmpHost+256]),
			"time": int64(int32(binary.LittleEndian.Uint32(rec[utmpSec:]))),
			"pid":  int64(pid),
		})
	}
	return rows
}

func genLoggedInUsers(_ context.Context, e *Engine) ([]row, error) {
	b, err := e.fs.read("/var/run/utmp")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseUtmp(b), nil
}
