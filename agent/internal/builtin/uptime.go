package builtin

import (
	"context"
	"strconv"
	"strings"
)

var uptimeTable = &tableDef{
	name:    "uptime",
	columns: cols("days INTEGER", "hours INTEGER", "minutes INTEGER", "seconds INTEGER", "total_seconds BIGINT"),
	gen:     genUptime,
}

// parseUptime returns whole seconds from the first field of /proc/uptime.
func parseUptime(b []byte) (int64, bool) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return int64(v), true
}

func genUptime(_ context.Context, e *Engine) ([]row, error) {
	b, err := e.fs.read("/proc/uptime")
	if err != nil {
		return nil, nil
	}
	total, ok := parseUptime(b)
	if !ok {
		return nil, nil
	}
	return []row{{
		"days": total / 86400, "hours": total % 86400 / 3600, "minutes": total % 3600 / 60,
		"seconds": total % 60, "total_seconds": total,
	}}, nil
}
