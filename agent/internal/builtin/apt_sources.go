package builtin

import (
	"context"
	"strings"
)

// aptSourcesTable is osquery's apt_sources: one row per "deb" repository
// and suite configured in /etc/apt/sources.list, sources.list.d/*.list
// (one-line format) and sources.list.d/*.sources (deb822), described by
// the Release file apt downloaded for it.
var aptSourcesTable = &tableDef{
	name: "apt_sources",
	columns: cols("name TEXT", "source TEXT", "base_uri TEXT", "release TEXT", "version TEXT",
		"maintainer TEXT", "components TEXT", "architectures TEXT"),
	gen: genAptSources,
}

// aptSource is one repository and suite; cache holds the parts of apt's
// cache file name under /var/lib/apt/lists.
type aptSource struct {
	name, baseURI string
	cache         []string
}

// newAptSource builds the source for uri (scheme included, no trailing
// slash) and suite the way osquery does: name is "<uri without scheme>
// <suite>", and the cache file is "<host/path>_dists_<suite>" for a plain
// suite or "<host/path>_<suite parts>" for a path suite.
func newAptSource(uri, suite string) (aptSource, bool) {
	i := strings.Index(uri, "://")
	if i < 0 || len(uri) <= i+3 {
		return aptSource{}, false
	}
	hostPath := uri[i+3:]
	s := aptSource{name: hostPath + " " + suite, baseURI: uri, cache: []string{hostPath}}
	var parts []string
	for _, p := range strings.Split(suite, "/") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 1 {
		s.cache = append(s.cache, "dists", suite)
	} else {
		s.cache = append(s.cache, parts...)
	}
	return s, true
}

// cacheName is the file name prefix apt uses under /var/lib/apt/lists.
func (s aptSource) cacheName() string {
	return strings.ReplaceAll(strings.Join(s.cache, "_"), "/", "_")
}

func stripAptComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}

// parseAptSourceLine parses one sources.list line, "deb [options] uri suite
// [component...]". deb-src lines, comments and malformed lines yield false.
func parseAptSourceLine(line string) (aptSource, bool) {
	f := strings.Fields(stripAptComment(line))
	if len(f) < 3 || f[0] != "deb" {
		return aptSource{}, false
	}
	i := 1
	if strings.HasPrefix(f[i], "[") {
		for i < len(f) && !strings.Contains(f[i], "]") {
			i++
		}
		i++ // past the token closing the options
	}
	if i+1 >= len(f) {
		return aptSource{}, false
	}
	return newAptSource(strings.TrimRight(f[i], "/"), f[i+1])
}

// parseAptSourcesList parses a one-line-format file.
func parseAptSourcesList(b []byte) []aptSource {
	var out []aptSource
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := parseAptSourceLine(line); ok {
			out = append(out, s)
		}
	}
	return out
}

// parseDeb822Sources parses a .sources file: stanzas separated by blank
// lines, each with Types, URIs and Suites (every URI × suite is a source).
// Stanzas whose Types lack "deb" or that are disabled (Enabled: no) yield
// nothing. Continuation lines (multi-line Signed-By keys) are skipped.
func parseDeb822Sources(b []byte) []aptSource {
	var out []aptSource
	for _, stanza := range splitStanzas(string(b)) {
		out = append(out, parseDeb822Stanza(stanza)...)
	}
	return out
}

func splitStanzas(s string) [][]string {
	var out [][]string
	var cur []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func parseDeb822Stanza(lines []string) []aptSource {
	var uris, suites []string
	isDeb := false
	for _, line := range lines {
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		key, value, ok := strings.Cut(stripAptComment(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "types":
			for _, t := range strings.Fields(value) {
				isDeb = isDeb || t == "deb"
			}
		case "enabled":
			if on, known := parseBoolish(value); known && !on {
				return nil
			}
		case "uris":
			for _, u := range strings.Fields(value) {
				if strings.Contains(u, "://") {
					uris = append(uris, strings.TrimRight(u, "/"))
				}
			}
		case "suites":
			suites = append(suites, strings.Fields(value)...)
		}
	}
	if !isDeb {
		return nil
	}
	var out []aptSource
	for _, u := range uris {
		for _, s := range suites {
			if src, ok := newAptSource(u, s); ok {
				out = append(out, src)
			}
		}
	}
	return out
}

// parseAptRelease reads the fields osquery reports from a Release or
// InRelease file, up to the signature. Values containing ':' (Date) are
// skipped, as osquery does.
func parseAptRelease(b []byte) row {
	fields := map[string]string{"Codename": "release", "Version": "version", "Origin": "maintainer",
		"Components": "components", "Architectures": "architectures"}
	r := row{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "-----BEGIN PGP SIGNATURE-----" {
			break
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(value, ":") {
			continue
		}
		if col, ok := fields[strings.TrimSpace(key)]; ok {
			r[col] = strings.TrimSpace(value)
		}
	}
	return r
}

const aptLists = "/var/lib/apt/lists"

// genAptSources follows osquery: a source whose Release file apt has not
// downloaded (no "apt update" since it was added) yields no row.
func genAptSources(_ context.Context, e *Engine) ([]row, error) {
	type file struct {
		path    string
		sources []aptSource
	}
	var files []file
	add := func(p string, parse func([]byte) []aptSource) {
		if b, err := e.fs.read(p); err == nil {
			files = append(files, file{p, parse(b)})
		}
	}
	add("/etc/apt/sources.list", parseAptSourcesList)
	for _, p := range e.fs.glob("/etc/apt/sources.list.d/*.list") {
		add(p, parseAptSourcesList)
	}
	for _, p := range e.fs.glob("/etc/apt/sources.list.d/*.sources") {
		add(p, parseDeb822Sources)
	}
	lists := e.fs.list(aptLists)
	var rows []row
	for _, f := range files {
		for _, s := range f.sources {
			rel := releaseFile(lists, s.cacheName())
			if rel == "" {
				continue
			}
			b, err := e.fs.read(aptLists + "/" + rel)
			if err != nil {
				continue
			}
			r := parseAptRelease(b)
			r["name"], r["source"], r["base_uri"] = s.name, f.path, s.baseURI
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// releaseFile picks "<cache>_InRelease" or "<cache>_Release" (the first in
// name order, like osquery's glob) from the sorted lists directory.
func releaseFile(lists []string, cache string) string {
	for _, name := range lists {
		if rest, ok := strings.CutPrefix(name, cache+"_"); ok && strings.HasSuffix(rest, "Release") {
			return name
		}
	}
	return ""
}
