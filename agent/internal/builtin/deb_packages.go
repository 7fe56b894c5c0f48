package builtin

import (
	"context"
	"errors"
	"io/fs"
	"strings"
)

var debPackagesTable = &tableDef{
	name: "deb_packages",
	columns: cols("name TEXT", "version TEXT", "source TEXT", "size BIGINT", "arch TEXT", "revision TEXT",
		"status TEXT", "maintainer TEXT", "section TEXT", "priority TEXT", "admindir TEXT"),
	gen: genDebPackages,
}

const dpkgAdmindir = "/var/lib/dpkg"

// parseDebControl splits a deb822 file (dpkg status) into stanzas of
// field -> value; continuation lines are appended to the previous field.
func parseDebControl(b []byte) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, last = map[string]string{}, ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += "\n" + strings.TrimSpace(line)
			}
		default:
			if k, v, ok := strings.Cut(line, ":"); ok {
				last = k
				cur[k] = strings.TrimSpace(v)
			}
		}
	}
	flush()
	return out
}

// debRevision is the Debian revision: what follows the last hyphen of the
// version, if any ("1:2.36-9+deb12u4" -> "9+deb12u4").
func debRevision(version string) string {
	if i := strings.LastIndexByte(version, '-'); i >= 0 {
		return version[i+1:]
	}
	return ""
}

// parseDpkgStatus returns one row per package dpkg knows as more than
// "not-installed", like osquery (so config-files remnants are listed; the
// status column tells them apart). size is Installed-Size as dpkg records
// it, in KiB, which is also what osquery passes through.
func parseDpkgStatus(b []byte) []row {
	var rows []row
	for _, p := range parseDebControl(b) {
		if p["Package"] == "" {
			continue
		}
		st := strings.Fields(p["Status"])
		if len(st) == 3 && st[2] == "not-installed" {
			continue
		}
		r := row{
			"name": p["Package"], "version": p["Version"], "source": p["Source"], "arch": p["Architecture"],
			"revision": debRevision(p["Version"]), "status": p["Status"], "maintainer": p["Maintainer"],
			"section": p["Section"], "priority": p["Priority"], "admindir": dpkgAdmindir,
		}
		if s := p["Installed-Size"]; s != "" {
			r["size"] = s
		}
		rows = append(rows, r)
	}
	return rows
}

func genDebPackages(_ context.Context, e *Engine) ([]row, error) {
	b, err := e.fs.read(dpkgAdmindir + "/status")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseDpkgStatus(b), nil
}

// debInstalled reports whether dpkg has pkg fully installed.
func (e *Engine) debInstalled(pkg string) bool {
	b, err := e.fs.read(dpkgAdmindir + "/status")
	if err != nil {
		return false
	}
	for _, p := range parseDebControl(b) {
		if p["Package"] == pkg && strings.HasSuffix(p["Status"], " installed") {
			return true
		}
	}
	return false
}
