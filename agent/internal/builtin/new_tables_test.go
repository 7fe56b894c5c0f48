package builtin

import (
	"context"
	"os"
	"reflect"
	"testing"
)

func TestParseAptSourceLine(t *testing.T) {
	tests := []struct {
		line  string
		ok    bool
		name  string
		uri   string
		cache string
	}{
		{"deb http://deb.debian.org/debian/ bookworm main", true, "deb.debian.org/debian bookworm", "http://deb.debian.org/debian", "deb.debian.org_debian_dists_bookworm"},
		{"  deb   http://archive.ubuntu.com/ubuntu noble-updates main restricted", true, "archive.ubuntu.com/ubuntu noble-updates", "http://archive.ubuntu.com/ubuntu", "archive.ubuntu.com_ubuntu_dists_noble-updates"},
		{"deb [arch=amd64 signed-by=/k.gpg] https://x.example/apt stable main # c", true, "x.example/apt stable", "https://x.example/apt", "x.example_apt_dists_stable"},
		{"deb [ arch=amd64 ] https://x.example/apt stable main", true, "x.example/apt stable", "https://x.example/apt", "x.example_apt_dists_stable"},
		{"deb http://x.example/repo dists/custom/", true, "x.example/repo dists/custom/", "http://x.example/repo", "x.example_repo_dists_custom"},
		{"deb-src http://deb.debian.org/debian bookworm main", false, "", "", ""},
		{"# deb http://deb.debian.org/debian bookworm main", false, "", "", ""},
		{"deb cdrom:[Debian]/ bookworm main", false, "", "", ""},
		{"deb http://only-uri.example/", false, "", "", ""},
		{"deb [arch=amd64]", false, "", "", ""},
		{"", false, "", "", ""},
	}
	for _, tt := range tests {
		s, ok := parseAptSourceLine(tt.line)
		if ok != tt.ok || s.name != tt.name || s.baseURI != tt.uri || (ok && s.cacheName() != tt.cache) {
			t.Errorf("%q: got %v %q %q %q, want %v %q %q %q", tt.line, ok, s.name, s.baseURI, s.cacheName(), tt.ok, tt.name, tt.uri, tt.cache)
		}
	}
}

func TestParseDeb822Sources(t *testing.T) {
	b, err := os.ReadFile("testdata/apt-sources/etc/apt/sources.list.d/vendor.sources")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range parseDeb822Sources(b) {
		names = append(names, s.name+" <"+s.baseURI+">")
	}
	// Two URIs × one suite; the armored key's "Comment: Types: deb-src"
	// continuation line is not a field.
	want := []string{"repo.vendor.example/apt ./ <https://repo.vendor.example/apt>", "mirror.vendor.example/apt ./ <https://mirror.vendor.example/apt>"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("got %q, want %q", names, want)
	}
	for _, tc := range []struct {
		body string
		n    int
	}{
		{"Types: deb\nURIs: http://a.example/d\nSuites: s1 s2\n\nTypes: deb\nURIs: http://b.example/d\nSuites: s\n", 3},
		{"Types: deb\nURIs: http://a.example/d\nSuites: s\nEnabled: no\n", 0},
		{"Types: deb\nURIs: http://a.example/d\nSuites: s\nEnabled: yes\n", 1},
		{"Types: deb-src\nURIs: http://a.example/d\nSuites: s\n", 0},
		{"Types: deb\nURIs: file-without-scheme\nSuites: s\n", 0},
		{"Types: deb\r\nURIs: http://a.example/d\r\nSuites: s\r\n", 1},
		{"types: deb\nuris: http://a.example/d\nsuites: s\n", 1},
	} {
		if got := parseDeb822Sources([]byte(tc.body)); len(got) != tc.n {
			t.Errorf("%q: %d sources, want %d: %+v", tc.body, len(got), tc.n, got)
		}
	}
}

func TestAptSourcesTable(t *testing.T) {
	rows := mustQuery(t, newTestEngine(t, "testdata/apt-sources"), "SELECT * FROM apt_sources ORDER BY source, name")
	want := []map[string]string{
		{"name": "deb.debian.org/debian bookworm", "source": "/etc/apt/sources.list", "base_uri": "http://deb.debian.org/debian",
			"release": "bookworm", "version": "12.11", "maintainer": "Debian",
			"components":    "main contrib non-free-firmware non-free",
			"architectures": "all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x"},
		{"name": "packages.example.com/apt stable", "source": "/etc/apt/sources.list", "base_uri": "https://packages.example.com/apt",
			"release": "stable", "version": "", "maintainer": "Example Inc.", "components": "main", "architectures": "amd64"},
		{"name": "security.debian.org/debian-security bookworm-security", "source": "/etc/apt/sources.list.d/debian.sources",
			"base_uri": "http://security.debian.org/debian-security", "release": "bookworm-security", "version": "12",
			"maintainer": "Debian", "components": "updates/main updates/contrib", "architectures": "amd64 arm64"},
		{"name": "download.docker.com/linux/debian bookworm", "source": "/etc/apt/sources.list.d/docker.list",
			"base_uri": "https://download.docker.com/linux/debian", "release": "bookworm", "version": "", "maintainer": "Docker",
			"components": "stable edge test", "architectures": "amd64 arm64 armhf ppc64el s390x"},
	}
	// Not listed, as in osquery: the never-updated source (no Release file
	// downloaded), the disabled and deb-src stanzas, *.list.save, and the
	// flat "./" vendor repository (osquery looks for a dists/ cache name).
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got\n%v\nwant\n%v", rows, want)
	}
}

func TestParseAptReleaseStopsAtSignature(t *testing.T) {
	r := parseAptRelease([]byte("Origin: A\nDate: Sat, 17 May 2025 09:34:52 UTC\n-----BEGIN PGP SIGNATURE-----\nCodename: forged\n"))
	if !reflect.DeepEqual(r, row{"maintainer": "A"}) {
		t.Errorf("got %v", r)
	}
}

// The fixture was written by util-linux utmpdump -r from a text dump.
func TestLoggedInUsersFromUtmp(t *testing.T) {
	b, err := os.ReadFile("testdata/utmp/utmp")
	if err != nil {
		t.Fatal(err)
	}
	root := writeTree(t, map[string]string{"var/run/utmp": string(b)})
	rows := mustQuery(t, newTestEngine(t, root), "SELECT * FROM logged_in_users")
	want := []map[string]string{
		{"type": "boot_time", "user": "reboot", "tty": "~", "host": "6.1.0-18-amd64", "time": "1795161600", "pid": "0"},
		{"type": "login", "user": "LOGIN", "tty": "tty1", "host": "", "time": "1795161607", "pid": "812"},
		{"type": "user", "user": "alice", "tty": "pts/0", "host": "203.0.113.7", "time": "1795598130", "pid": "4242"},
		{"type": "user", "user": "bob", "tty": ":0", "host": ":0", "time": "1795600800", "pid": "5151"},
		{"type": "dead", "user": "", "tty": "pts/1", "host": "", "time": "1795542300", "pid": "3030"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got\n%v\nwant\n%v", rows, want)
	}
	// A truncated trailing record is ignored, an unknown type is named so.
	rec := make([]byte, utmpRecordSize)
	rec[utmpType], rec[utmpPID] = 42, 9
	got := parseUtmp(append(rec, make([]byte, 100)...))
	if len(got) != 1 || got[0]["type"] != "unknown" || got[0]["pid"] != int64(9) {
		t.Errorf("parseUtmp = %v", got)
	}
}

// The fixture is a real rpmdb.sqlite: rpm 4.18 (Debian's) built two
// packages with rpmbuild and installed them with --justdb; the expected
// values are `rpm -qa --qf` output from that database.
func TestRPMPackagesFromRpmdbSqlite(t *testing.T) {
	rows := mustQuery(t, newTestEngine(t, "testdata/rpm"), "SELECT * FROM rpm_packages ORDER BY name")
	want := []map[string]string{
		{"name": "fleetproof-hello", "version": "1.2.3", "release": "4.el9", "source": "fleetproof-hello-1.2.3-4.el9.src.rpm",
			"size": "3", "sha1": "a61224e060448495546672d0fd0798dfd0f1b853", "arch": "x86_64", "epoch": "2",
			"install_time": "1795619115", "vendor": "Fleetproof Test", "package_group": "Applications/System"},
		{"name": "tiny-noarch", "version": "0.9", "release": "1", "source": "tiny-noarch-0.9-1.src.rpm",
			"size": "0", "sha1": "59f7b7daa08164ec75b457e6704ffae0e723da69", "arch": "noarch", "epoch": "",
			"install_time": "1795619115", "vendor": "", "package_group": "Unspecified"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got\n%v\nwant\n%v", rows, want)
	}
	if n := mustQuery(t, newTestEngine(t, "testdata/rpm"), "SELECT count(*) AS n FROM rpm_packages WHERE epoch IS NULL")[0]["n"]; n != "1" {
		t.Errorf("packages without epoch (NULL) = %s, want 1", n)
	}
	// Reading must not leave journal files next to the database.
	ents, _ := os.ReadDir("testdata/rpm/var/lib/rpm")
	if len(ents) != 1 {
		t.Errorf("testdata/rpm/var/lib/rpm has %d entries after reading", len(ents))
	}
}

func TestParseRPMHeaderRejectsDamage(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{0, 0, 0, 1, 0, 0, 0, 0},             // one entry, no index
		{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, // data length past the end
		{0, 1, 0, 0, 0, 0, 0, 0},             // 65536 entries
	} {
		if _, err := parseRPMHeader(b); err == nil {
			t.Errorf("parseRPMHeader(%x) accepted", b)
		}
	}
	// An entry pointing past the data, and an unterminated string.
	b := []byte{0, 0, 0, 2, 0, 0, 0, 2,
		0, 0, 0x03, 0xe8, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1, // NAME, STRING at 0
		0, 0, 0x03, 0xf0, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0, 1, // INSTALLTIME at 9
		'a', 'b'}
	h, err := parseRPMHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rpmRow(h); ok {
		t.Error("unterminated name accepted")
	}
	if _, ok := h.num(rpmTagInstallTime); ok {
		t.Error("out-of-range integer accepted")
	}
}

func TestGenerateLeavesNullsOut(t *testing.T) {
	e := newTestEngine(t, "testdata/rpm")
	rows, err := e.Generate(context.Background(), "rpm_packages")
	if err != nil {
		t.Fatal(err)
	}
	var noEpoch map[string]string
	for _, r := range rows {
		if r["name"] == "tiny-noarch" {
			noEpoch = r
		}
	}
	if _, has := noEpoch["epoch"]; has || noEpoch["vendor"] != "" || noEpoch["size"] != "0" {
		t.Errorf("tiny-noarch row = %v (epoch must be absent = NULL)", noEpoch)
	}
	if cols, ok := e.Schema("fleetproof_screenlock"); !ok || len(cols) == 0 {
		t.Errorf("Schema(fleetproof_screenlock) = %v, %v", cols, ok)
	}
	if _, ok := e.Schema("nope"); ok {
		t.Error("Schema(nope) ok")
	}
	if _, err := e.Generate(context.Background(), "nope"); err == nil {
		t.Error("Generate(nope) succeeded")
	}
	for _, name := range ExtensionTables {
		if _, ok := e.Schema(name); !ok {
			t.Errorf("extension table %s not implemented", name)
		}
	}
}
