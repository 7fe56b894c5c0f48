package builtin

import (
	"context"
	"errors"
	"io/fs"
	"strings"
)

var mountsTable = &tableDef{
	name: "mounts",
	columns: cols("device TEXT", "device_alias TEXT", "path TEXT", "type TEXT", "blocks_size BIGINT",
		"blocks BIGINT", "blocks_free BIGINT", "blocks_available BIGINT", "inodes BIGINT",
		"inodes_free BIGINT", "flags TEXT"),
	gen: genMounts,
}

type mountEntry struct{ device, path, fstype, flags string }

// parseMounts reads the fstab(5)-format /proc/mounts, decoding the octal
// escapes the kernel uses for spaces, tabs, newlines and backslashes.
func parseMounts(b []byte) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, mountEntry{
			device: unescapeOctal(f[0]), path: unescapeOctal(f[1]),
			fstype: unescapeOctal(f[2]), flags: unescapeOctal(f[3]),
		})
	}
	return out
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func genMounts(_ context.Context, e *Engine) ([]row, error) {
	b, err := e.fs.read("/proc/mounts")
	if errors.Is(err, fs.ErrNotExist) {
		b, err = e.fs.read("/proc/self/mounts")
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, m := range parseMounts(b) {
		r := row{
			"device": m.device, "device_alias": e.deviceAlias(m.device), "path": m.path,
			"type": m.fstype, "flags": m.flags,
			"blocks_size": int64(0), "blocks": int64(0), "blocks_free": int64(0),
			"blocks_available": int64(0), "inodes": int64(0), "inodes_free": int64(0),
		}
		// statfs describes the live mount table only; against a fake root
		// the paths would name the test machine's filesystems.
		if e.fs.live() {
			if st, ok := statfs(m.path); ok {
				r["blocks_size"], r["blocks"], r["blocks_free"] = st.blockSize, st.blocks, st.blocksFree
				r["blocks_available"], r["inodes"], r["inodes_free"] = st.blocksAvail, st.inodes, st.inodesFree
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// deviceAlias is realpath(device) within the root, or the device itself
// when it is not a path that resolves (tmpfs, proc, overlay ...). osquery
// calls realpath on those names relative to its working directory; this
// engine deliberately does not.
func (e *Engine) deviceAlias(dev string) string {
	if p, ok := e.fs.realpath(dev); ok {
		return p
	}
	return dev
}
