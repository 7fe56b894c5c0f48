package builtin

import (
	"os"
	"reflect"
	"testing"
)

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseOSReleaseAcrossDistributions(t *testing.T) {
	tests := []struct {
		fixture string
		want    osRelease
	}{
		{"debian12", osRelease{name: "Debian GNU/Linux", version: "12 (bookworm)", platform: "debian",
			codename: "bookworm", major: "12", minor: "0", patch: "0"}},
		{"ubuntu2404", osRelease{name: "Ubuntu", version: "24.04.1 LTS (Noble Numbat)", platform: "ubuntu",
			platformLike: "debian", codename: "noble", major: "24", minor: "04", patch: "0"}},
		{"rocky9", osRelease{name: "Rocky Linux", version: "9.4 (Blue Onyx)", platform: "rocky",
			platformLike: "rhel centos fedora", major: "9", minor: "4", patch: "0"}},
		{"rhel9", osRelease{name: "Red Hat Enterprise Linux", version: "9.3 (Plow)", platform: "rhel",
			platformLike: "fedora", major: "9", minor: "3", patch: "0"}},
		{"alpine319", osRelease{name: "Alpine Linux", platform: "alpine", major: "3", minor: "19", patch: "1"}},
		{"fedora40", osRelease{name: "Fedora Linux", version: "40 (Workstation Edition)", platform: "fedora",
			major: "40", minor: "0", patch: "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got := parseOSRelease(readFixture(t, "testdata/os-release/"+tt.fixture))
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseOSReleaseDefaultsWhenEmpty(t *testing.T) {
	want := osRelease{name: "Unknown", platform: "posix", major: "0", minor: "0", patch: "0"}
	if got := parseOSRelease(nil); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseOSReleaseUnquotesShellValues(t *testing.T) {
	got := parseOSRelease([]byte("NAME='Single Quoted'\nVERSION=\"say \\\"hi\\\"\"\n# ID=commented\n"))
	if got.name != "Single Quoted" || got.version != `say "hi"` || got.platform != "posix" {
		t.Errorf("got %+v", got)
	}
}

func TestRedhatReleaseOverridesLikeOsquery(t *testing.T) {
	tests := []struct {
		fixture                                      string
		name, version, major, minor, patch, platform string
	}{
		{"rocky9", "Rocky Linux", "Rocky Linux release 9.4 (Blue Onyx)", "9", "4", "0", "rhel"},
		{"rhel9", "Red Hat Enterprise Linux", "Red Hat Enterprise Linux release 9.3 (Plow)", "9", "3", "0", "rhel"},
		// No dotted version: the os-release name and VERSION_ID stay.
		{"fedora40", "Fedora Linux", "Fedora release 40 (Forty)", "40", "0", "0", "rhel"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := parseOSRelease(readFixture(t, "testdata/os-release/"+tt.fixture))
			applyRedhatRelease(&r, readFixture(t, "testdata/os-release/"+tt.fixture+".redhat-release"))
			got := []string{r.name, r.version, r.major, r.minor, r.patch, r.platform, r.platformLike}
			want := []string{tt.name, tt.version, tt.major, tt.minor, tt.patch, tt.platform, "rhel"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	r := osRelease{}
	applyRedhatRelease(&r, []byte("CentOS Linux release 7.9.2009 (Core)\n"))
	if r.name != "CentOS Linux" || r.major != "7" || r.minor != "9" || r.patch != "2009" {
		t.Errorf("CentOS 7: %+v", r)
	}
}

func TestParseCPUInfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want cpuInfo
	}{
		{"x86 with hyperthreads", string(readFixture(t, "testdata/roots/luks-lvm/proc/cpuinfo")),
			cpuInfo{brand: "11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", model: "140", microcode: "0xb4",
				logical: 4, physical: 2, sockets: 1}},
		{"arm64 without topology keys", string(readFixture(t, "testdata/roots/rocky9/proc/cpuinfo")),
			cpuInfo{logical: 2, physical: 2, sockets: 1}},
		{"two sockets", "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 1\ncore id: 0\n",
			cpuInfo{logical: 2, physical: 2, sockets: 2}},
		{"empty", "", cpuInfo{sockets: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCPUInfo([]byte(tt.in)); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMeminfoReturnsBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"MemTotal:       32576248 kB\nMemFree: 1 kB\n": 32576248 * 1024,
		"MemFree: 1 kB\n": 0,
		"MemTotal:\n":     0,
	} {
		if got := parseMeminfo([]byte(in)); got != want {
			t.Errorf("parseMeminfo(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestParseProcVersionAndCmdline(t *testing.T) {
	if got := parseProcVersion(readFixture(t, "testdata/roots/luks-lvm/proc/version")); got != "6.8.0-45-generic" {
		t.Errorf("version = %q", got)
	}
	if got := parseProcVersion([]byte("Linux")); got != "" {
		t.Errorf("short version = %q", got)
	}
	args, path, dev := parseCmdline([]byte("BOOT_IMAGE=/vmlinuz-6.8 root=UUID=abcd ro quiet\n"))
	if args != "BOOT_IMAGE=/vmlinuz-6.8 root=UUID=abcd ro quiet" || path != "/vmlinuz-6.8" || dev != "UUID=abcd" {
		t.Errorf("got %q %q %q", args, path, dev)
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"93784.52 370021.10\n", 93784, true},
		{"0.99 1.00", 0, true},
		{"", 0, false},
		{"garbage", 0, false},
		{"-5 1", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseUptime([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUptime(%q) = %d, %v", tt.in, got, ok)
		}
	}
}

func TestParseMountsDecodesOctalEscapes(t *testing.T) {
	in := "/dev/sda1 /media/alice/My\\040Disk vfat rw,uid=1000 0 0\n" +
		"tab\\011dev /mnt/a\\134b ext4 rw 0 0\n" +
		"# comment\nshort line\n\n" +
		"/dev/sdb /mnt/odd\\04 ext4 ro 0 0\n"
	want := []mountEntry{
		{device: "/dev/sda1", path: "/media/alice/My Disk", fstype: "vfat", flags: "rw,uid=1000"},
		{device: "tab\tdev", path: `/mnt/a\b`, fstype: "ext4", flags: "rw"},
		{device: "/dev/sdb", path: `/mnt/odd\04`, fstype: "ext4", flags: "ro"},
	}
	if got := parseMounts([]byte(in)); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParsePasswdSkipsCompatAndMalformedLines(t *testing.T) {
	got := parsePasswd(readFixture(t, "testdata/roots/luks-lvm/etc/passwd"))
	if len(got) != 7 {
		t.Fatalf("got %d entries, want 7: %+v", len(got), got)
	}
	want := passwdEntry{username: "alice", uid: 1000, gid: 1000, gecos: "Alice Example,,,", home: "/home/alice", shell: "/bin/bash"}
	if got[4] != want {
		t.Errorf("alice = %+v", got[4])
	}
	if got[6].uid != 4294967294 {
		t.Errorf("nfsnobody uid = %d", got[6].uid)
	}
}

func TestParseDpkgStatus(t *testing.T) {
	rows := parseDpkgStatus(readFixture(t, "testdata/roots/luks-lvm/var/lib/dpkg/status"))
	byName := map[string]row{}
	for _, r := range rows {
		byName[r["name"].(string)] = r
	}
	if _, ok := byName["telnetd"]; ok {
		t.Error("not-installed package listed")
	}
	if len(rows) != 5 {
		t.Errorf("got %d packages, want 5", len(rows))
	}
	want := row{"name": "libcap2", "version": "1:2.66-5ubuntu2", "source": "libcap2 (1:2.66-5ubuntu2)",
		"size": "84", "arch": "amd64", "revision": "5ubuntu2", "status": "install ok installed",
		"maintainer": "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>", "section": "libs",
		"priority": "optional", "admindir": "/var/lib/dpkg"}
	if !reflect.DeepEqual(byName["libcap2"], want) {
		t.Errorf("libcap2 = %v", byName["libcap2"])
	}
	if got := byName["linux-image-6.8.0-40-generic"]["status"]; got != "deinstall ok config-files" {
		t.Errorf("config-files remnant status = %v", got)
	}
	if got := byName["unattended-upgrades"]["revision"]; got != "" {
		t.Errorf("native package revision = %q, want empty", got)
	}
}

func TestParseDebControlJoinsContinuationLines(t *testing.T) {
	got := parseDebControl([]byte("Package: a\nDescription: short\n long line\n .\n\n\nPackage: b\r\n"))
	want := []map[string]string{{"Package": "a", "Description": "short\nlong line\n."}, {"Package": "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestParseProcStatHandlesParenthesesInComm(t *testing.T) {
	got, ok := parseProcStat(readFixture(t, "testdata/roots/luks-lvm/proc/4242/stat"))
	want := procStat{comm: "my (weird) proc", state: "R", ppid: 1, pgrp: 4242, utime: 1500, stime: 250,
		nice: 5, threads: 3, startTicks: 250000}
	if !ok || got != want {
		t.Errorf("got %+v, %v", got, ok)
	}
	for _, bad := range []string{"", "12 (x", "12 (x) S 1 2"} {
		if _, ok := parseProcStat([]byte(bad)); ok {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	got := parseProcStatus(readFixture(t, "testdata/roots/luks-lvm/proc/1/status"))
	want := procStatus{name: "systemd", uid: [3]string{"0", "0", "0"}, gid: [3]string{"0", "0", "0"},
		rssKB: 13176, vmKB: 22808, hasRSS: true, hasVM: true}
	if got != want {
		t.Errorf("got %+v", got)
	}
	kthread := parseProcStatus(readFixture(t, "testdata/roots/luks-lvm/proc/77/status"))
	if kthread.hasRSS || kthread.hasVM {
		t.Errorf("kernel thread has memory figures: %+v", kthread)
	}
}

func TestParseProcIONetsCancelledWrites(t *testing.T) {
	r, w, ok := parseProcIO([]byte("read_bytes: 10\nwrite_bytes: 100\ncancelled_write_bytes: 30\n"))
	if !ok || r != 10 || w != 70 {
		t.Errorf("got %d %d %v", r, w, ok)
	}
	if _, _, ok := parseProcIO(nil); ok {
		t.Error("empty io accepted")
	}
}

func TestParseCgroupPath(t *testing.T) {
	for in, want := range map[string]string{
		"0::/user.slice/session-2.scope\n":                "/user.slice/session-2.scope",
		"12:cpu,cpuacct:/system.slice\n1:name=systemd:/x": "/system.slice",
		"":        "",
		"garbage": "",
	} {
		if got := parseCgroupPath(in); got != want {
			t.Errorf("parseCgroupPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatMachineID(t *testing.T) {
	if got := formatMachineID("0F3C2E1D9A8B4C7D8E6F5A4B3C2D1E0F\n"); got != "0f3c2e1d-9a8b-4c7d-8e6f-5a4b3c2d1e0f" {
		t.Errorf("got %q", got)
	}
	if got := formatMachineID("short"); got != "short" {
		t.Errorf("got %q", got)
	}
}
