package builtin

import (
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the pure parsers behind the built-in tables. The files
// they read come from the host (and, for LUKS headers, utmp and the rpm
// database, from binary formats anyone with root can forge), so whatever
// the bytes, a parser must return quickly, must not panic, and must yield
// rows made only of the table's columns with values the engine can store.
//
// Seeds are the testdata fixtures; `go test` runs them (and any crasher
// under testdata/fuzz/) as ordinary tests. To search for new inputs:
//
//	go test -run '^$' -fuzz '^FuzzParseDpkgStatus$' -fuzztime 15s ./agent/internal/builtin/

// maxFuzzInput bounds one input: every parser is linear, so a larger input
// only slows the search down.
const maxFuzzInput = 1 << 20

// addFixtures seeds f with the bytes of every file the globs (relative to
// testdata) match.
func addFixtures(f *testing.F, globs ...string) {
	f.Helper()
	n := 0
	for _, g := range globs {
		paths, err := filepath.Glob(filepath.Join("testdata", g))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no fixtures match %q", globs)
	}
}

// bounded runs fn and fails the whole process if it runs for more than a
// few seconds: the fuzzer has no hang detector of its own, and a parser
// that loops forever on some input is a bug to report, not to wait out.
func bounded(t *testing.T, fn func()) {
	t.Helper()
	if testing.Short() {
		fn()
		return
	}
	timer := time.AfterFunc(10*time.Second, func() {
		panic("parser did not return within 10s on " + t.Name())
	})
	defer timer.Stop()
	fn()
}

// checkRows asserts every row has only td's columns and every value is a
// string, an int64 or nil, the types materialize stores.
func checkRows(t *testing.T, td *tableDef, rows []row) {
	t.Helper()
	known := map[string]bool{}
	for _, c := range td.columns {
		known[c.Name] = true
	}
	for i, r := range rows {
		for k, v := range r {
			if !known[k] {
				t.Fatalf("%s row %d: column %q is not in the table", td.name, i, k)
			}
			switch v.(type) {
			case string, int64, nil:
			default:
				t.Fatalf("%s row %d: column %s holds %T", td.name, i, k, v)
			}
		}
	}
}

func skipHuge(t *testing.T, b []byte) {
	if len(b) > maxFuzzInput {
		t.Skip("input too large")
	}
}

func FuzzParseOSRelease(f *testing.F) {
	addFixtures(f, "os-release/*", "roots/*/etc/os-release", "roots/*/etc/redhat-release")
	f.Add([]byte("VERSION_ID=\nNAME='\nID=\"\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			r := parseOSRelease(b)
			if r.major == "" && !strings.Contains(string(b), "VERSION_ID") {
				t.Fatalf("major empty without VERSION_ID: %+v", r)
			}
			applyRedhatRelease(&r, b)
			if r.platform != "rhel" || strings.ContainsAny(r.version, "\n\t") {
				t.Fatalf("redhat-release overlay: %+v", r)
			}
		})
	})
}

func FuzzParseDpkgStatus(f *testing.F) {
	addFixtures(f, "roots/*/var/lib/dpkg/status")
	f.Add([]byte("Package: a\nStatus: install ok not-installed\n\n \tcontinued\nPackage:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			for _, p := range parseDebControl(b) {
				if len(p) == 0 {
					t.Fatal("empty stanza returned")
				}
			}
			rows := parseDpkgStatus(b)
			checkRows(t, debPackagesTable, rows)
			for _, r := range rows {
				if r["name"] == "" || r["admindir"] != dpkgAdmindir {
					t.Fatalf("row %v", r)
				}
			}
		})
	})
}

func FuzzParseAptConf(f *testing.F) {
	addFixtures(f, "apt/*/etc/apt/apt.conf", "apt/*/etc/apt/apt.conf.d/*", "roots/*/etc/apt/apt.conf.d/*")
	f.Add([]byte(`A { B { "x"; }; #clear A::B; "unterminated`))
	f.Add([]byte("}}}};;{ /* never closed"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			for _, s := range parseAptConf(b) {
				if s.key != strings.ToLower(s.key) {
					t.Fatalf("key %q not lower-cased", s.key)
				}
				if s.clear && s.value != "" {
					t.Fatalf("#clear with a value: %+v", s)
				}
			}
		})
	})
}

// FuzzParseKeyfile covers the INI family: GLib keyfiles (dconf databases,
// gschema overrides), KConfig (kscreenlockerrc), configparser (dnf), plus
// the dconf profile and the GVariant/boolean value readers.
func FuzzParseKeyfile(f *testing.F) {
	addFixtures(f, "roots/*/etc/xdg/kscreenlockerrc", "roots/*/home/*/.config/kscreenlockerrc",
		"roots/*/etc/dconf/profile/*", "roots/*/etc/dconf/db/*/*", "roots/*/etc/dconf/db/*/locks/*",
		"roots/*/usr/share/glib-2.0/schemas/*.override", "roots/*/etc/dnf/automatic.conf")
	f.Add([]byte("[$i]\n[g][$i]\nk[$i]=v\n[\nx: y\n=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			for _, in := range [][]byte{b, dconfGroups(b)} {
				kf := parseKeyfile(in)
				for g, kv := range kf.groups {
					if kv == nil {
						t.Fatalf("group %q has a nil map", g)
					}
					for k, v := range kv {
						if strings.TrimSpace(k) != k || strings.TrimSpace(v) != v {
							t.Fatalf("untrimmed %q=%q", k, v)
						}
						got, ok := kf.get(g, k)
						if !ok || got != v {
							t.Fatalf("get(%q, %q) = %q, %v", g, k, got, ok)
						}
						kf.isImmutable(g, k)
						parseBoolish(v)
						parseGVariantInt(v)
					}
				}
			}
			for _, db := range parseDconfProfile(b) {
				if db == "" || strings.Contains(db, "/") {
					t.Fatalf("profile db %q", db)
				}
			}
		})
	})
}

// FuzzParseProcFiles feeds the same bytes to every /proc and kernel text
// parser: stat, status, io, cgroup, version, cmdline, uptime, meminfo,
// cpuinfo and mounts.
func FuzzParseProcFiles(f *testing.F) {
	addFixtures(f, "roots/*/proc/*", "roots/*/proc/*/*", "roots/*/proc/sys/kernel/hostname")
	f.Add([]byte("1 (a) b) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"))
	f.Add([]byte(") (x"))
	f.Add([]byte(`\0 \12 \777\ \1234 a`))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			if ps, ok := parseProcStat(b); ok && strings.Contains(ps.state, " ") {
				t.Fatalf("state %q", ps.state)
			}
			parseProcStatus(b)
			parseProcIO(b)
			if p := parseCgroupPath(string(b)); strings.Contains(p, "\n") {
				t.Fatalf("cgroup path %q spans lines", p)
			}
			if v := parseProcVersion(b); strings.ContainsAny(v, " \n\t") {
				t.Fatalf("release %q", v)
			}
			parseCmdline(b)
			if up, ok := parseUptime(b); ok && up < 0 {
				t.Fatalf("negative uptime %d", up)
			}
			parseMeminfo(b)
			if ci := parseCPUInfo(b); ci.sockets < 1 || ci.logical < 0 || ci.physical < 0 {
				t.Fatalf("cpuinfo %+v", ci)
			}
			for _, m := range parseMounts(b) {
				if m.device == "" || m.path == "" || m.fstype == "" || m.flags == "" {
					t.Fatalf("mount with an empty field: %+v", m)
				}
			}
		})
	})
}

func FuzzParseLUKSHeader(f *testing.F) {
	addFixtures(f, "luks/*")
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4<<20+luksBinHeaderSize { // what readLUKSHeader reads at most
			t.Skip("input too large")
		}
		bounded(t, func() {
			h, ok := parseLUKSHeader(b)
			if !ok {
				if h != (luksHeader{}) {
					t.Fatalf("rejected header with fields set: %+v", h)
				}
				return
			}
			if h.version != 1 && h.version != 2 {
				t.Fatalf("version %d accepted", h.version)
			}
			// (A LUKS2 cipher comes from JSON, where "\u0000" is legal.)
			if strings.IndexByte(h.uuid, 0) >= 0 || h.version == 1 && strings.IndexByte(h.cipher, 0) >= 0 {
				t.Fatalf("NUL in %+v", h)
			}
		})
	})
}

func FuzzParseUtmp(f *testing.F) {
	addFixtures(f, "utmp/*")
	f.Add(make([]byte, utmpRecordSize*2+7))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			rows := parseUtmp(b)
			if len(rows) > len(b)/utmpRecordSize {
				t.Fatalf("%d rows from %d bytes", len(rows), len(b))
			}
			checkRows(t, loggedInUsersTable, rows)
			for _, r := range rows {
				for _, k := range []string{"user", "tty", "host"} {
					if strings.IndexByte(r[k].(string), 0) >= 0 {
						t.Fatalf("NUL in %s: %q", k, r[k])
					}
				}
				if r["pid"] == int64(1) {
					t.Fatal("pid 1 record not skipped")
				}
			}
		})
	})
}

// FuzzParseAptSources covers sources.list (one-line), deb822 .sources and
// the Release/InRelease files, and the row genAptSources builds from them.
func FuzzParseAptSources(f *testing.F) {
	addFixtures(f, "apt-sources/etc/apt/sources.list", "apt-sources/etc/apt/sources.list.d/*",
		"apt-sources/var/lib/apt/lists/*")
	f.Add([]byte("deb [arch=amd64 http://x/ y\ndeb [ ] :// s\nTypes: deb\nURIs: a:// b://c/\nSuites: /\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			srcs := append(parseAptSourcesList(b), parseDeb822Sources(b)...)
			for _, s := range srcs {
				if !strings.Contains(s.baseURI, "://") || s.name == "" {
					t.Fatalf("source %+v", s)
				}
				if strings.Contains(s.cacheName(), "/") {
					t.Fatalf("cache name %q has a slash", s.cacheName())
				}
			}
			r := parseAptRelease(b)
			r["name"], r["source"], r["base_uri"] = "n", "s", "b"
			checkRows(t, aptSourcesTable, []row{r})
		})
	})
}

func FuzzParseUdevData(f *testing.F) {
	f.Add([]byte("S:disk/by-uuid/x\nE:ID_FS_TYPE=crypto_LUKS\nE:ID_FS_UUID=1234\nE:=\nE:NOEQ\n"))
	f.Add([]byte("E:ID_MODEL=a=b\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			for k, v := range parseUdevData(b) {
				if strings.Contains(k, "\n") || strings.Contains(v, "\n") || strings.Contains(k, "=") {
					t.Fatalf("udev %q=%q", k, v)
				}
			}
			cryptSubtype(string(b))
		})
	})
}

func FuzzParsePasswd(f *testing.F) {
	addFixtures(f, "roots/*/etc/passwd")
	f.Add([]byte("a:x:4294967296:0:g:/h:/s\n+nis\nb:x:1:2:::\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			for _, p := range parsePasswd(b) {
				if strings.Contains(p.username, ":") || strings.Contains(p.shell, "\n") {
					t.Fatalf("entry %+v", p)
				}
			}
		})
	})
}

// FuzzParseRPMHeader feeds header blobs (seeded from the fixture rpmdb) to
// the decoder and the row builder; offsets and counts are attacker-chosen.
func FuzzParseRPMHeader(f *testing.F) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: filepath.Join("testdata", "rpm", "var", "lib", "rpm", "rpmdb.sqlite")}).EscapedPath()+"?mode=ro")
	if err != nil {
		f.Fatal(err)
	}
	rs, err := db.Query("SELECT blob FROM Packages ORDER BY hnum")
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	for rs.Next() {
		var blob []byte
		if err := rs.Scan(&blob); err != nil {
			f.Fatal(err)
		}
		f.Add(blob)
		n++
	}
	rs.Close()
	db.Close()
	if n == 0 {
		f.Fatal("fixture rpmdb has no headers")
	}
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		skipHuge(t, b)
		bounded(t, func() {
			h, err := parseRPMHeader(b)
			if err != nil {
				return
			}
			if r, ok := rpmRow(h); ok {
				checkRows(t, rpmPackagesTable, []row{r})
			}
		})
	})
}
