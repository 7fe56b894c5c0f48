package builtin

import (
	"context"
	"os"
	"runtime"
)

var osqueryInfoTable = &tableDef{
	name: "osquery_info",
	columns: cols("pid INTEGER", "uuid TEXT", "instance_id TEXT", "version TEXT", "config_hash TEXT",
		"config_valid INTEGER", "extensions TEXT", "build_platform TEXT", "build_distro TEXT",
		"start_time INTEGER", "watcher INTEGER", "platform_mask INTEGER"),
	gen: genOsqueryInfo,
}

// platformMask is osquery's POSIX|LINUX bitmask (0x01|0x08).
const platformMask = 9

// genOsqueryInfo describes this engine, not an osqueryd: the version says
// "builtin-…" so evidence shows which engine produced it, there is no
// config and no watcher, and extensions are "inactive".
func genOsqueryInfo(_ context.Context, e *Engine) ([]row, error) {
	return []row{{
		"pid": int64(os.Getpid()), "uuid": e.hostUUID(), "instance_id": e.instanceID,
		"version": "builtin-" + Version, "config_hash": "", "config_valid": int64(0),
		"extensions": "inactive", "build_platform": runtime.GOOS, "build_distro": runtime.Version(),
		"start_time": e.started.Unix(), "watcher": int64(-1), "platform_mask": int64(platformMask),
	}}, nil
}
