package builtin

import (
	"context"
	"regexp"
	"strings"
)

var osVersionTable = &tableDef{
	name: "os_version",
	columns: cols("name TEXT", "version TEXT", "major INTEGER", "minor INTEGER", "patch INTEGER",
		"build TEXT", "platform TEXT", "platform_like TEXT", "codename TEXT", "arch TEXT"),
	gen: genOSVersion,
}

// osRelease is the subset of /etc/os-release that os_version exposes.
type osRelease struct {
	name, version, build, platform, platformLike, codename string
	major, minor, patch                                    string
}

// parseOSRelease mirrors osquery's genOSRelease: NAME, VERSION, BUILD_ID,
// ID, ID_LIKE, VERSION_CODENAME (or any *CODENAME key, last wins) and
// VERSION_ID split on "." into major/minor/patch.
func parseOSRelease(b []byte) osRelease {
	r := osRelease{name: "Unknown", major: "0", minor: "0", patch: "0", platform: "posix"}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		val = unquoteShell(val)
		switch key {
		case "NAME":
			r.name = val
		case "VERSION":
			r.version = val
		case "BUILD_ID":
			r.build = val
		case "ID":
			r.platform = val
		case "ID_LIKE":
			r.platformLike = val
		case "VERSION_ID":
			parts := strings.SplitN(val, ".", 3)
			r.major, r.minor, r.patch = parts[0], "0", "0"
			if len(parts) > 1 {
				r.minor = parts[1]
			}
			if len(parts) > 2 {
				r.patch = parts[2]
			}
		default:
			if strings.Contains(key, "CODENAME") {
				r.codename = val
			}
		}
	}
	return r
}

// os-release values may be quoted with " or ' and use shell escapes.
func unquoteShell(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
		if v != "" {
			v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`").Replace(v)
		}
	}
	return v
}

var redhatReleaseRE = regexp.MustCompile(`([\w+\s]+) .* ([0-9]+)\.([0-9]+)\.?(\w+)?`)

// applyRedhatRelease overlays /etc/redhat-release as osquery does on
// RHEL-family hosts (including Fedora): platform and platform_like become
// "rhel", version is the release line, and name/major/minor/patch come
// from it when it carries a dotted version.
func applyRedhatRelease(r *osRelease, content []byte) {
	line := strings.Join(strings.Fields(string(content)), " ")
	r.platform, r.platformLike = "rhel", "rhel"
	if m := redhatReleaseRE.FindStringSubmatch(line); m != nil {
		r.name, r.major, r.minor, r.patch = m[1], m[2], m[3], m[4]
		if r.patch == "" {
			r.patch = "0"
		}
	}
	r.version = line
	r.build = ""
}

func genOSVersion(_ context.Context, e *Engine) ([]row, error) {
	var r osRelease
	if b, err := e.fs.read("/etc/os-release"); err == nil && len(b) > 0 {
		r = parseOSRelease(b)
	} else if b, err := e.fs.read("/usr/lib/os-release"); err == nil && len(b) > 0 {
		// os-release(5): /usr/lib/os-release is the fallback location.
		r = parseOSRelease(b)
	} else {
		r = parseOSRelease(nil)
	}
	if b, err := e.fs.read("/etc/redhat-release"); err == nil {
		applyRedhatRelease(&r, b)
	}
	return []row{{
		"name": r.name, "version": r.version, "major": r.major, "minor": r.minor, "patch": r.patch,
		"build": r.build, "platform": r.platform, "platform_like": r.platformLike,
		"codename": r.codename, "arch": machineArch(),
	}}, nil
}
