package builtin

import (
	"reflect"
	"testing"
)

const luksRoot, rockyRoot = "testdata/roots/luks-lvm", "testdata/roots/rocky9"

// rowsByKey indexes query rows by one column for order-free assertions.
func rowsByKey(t *testing.T, rows []map[string]string, key string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, r := range rows {
		out[r[key]] = r
	}
	return out
}

func assertRow(t *testing.T, label string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", label, k, got[k], v)
		}
	}
}

func TestRootFilesystemEncryptionJoin(t *testing.T) {
	const join = `SELECT m.path, m.device_alias, COALESCE(d.encrypted,0) AS encrypted
		FROM mounts m LEFT JOIN disk_encryption d ON d.name = m.device_alias WHERE m.path = '/'`
	tests := []struct {
		root string
		want map[string]string
	}{
		{luksRoot, map[string]string{"path": "/", "device_alias": "/dev/dm-1", "encrypted": "1"}},
		{rockyRoot, map[string]string{"path": "/", "device_alias": "/dev/dm-0", "encrypted": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			rows := mustQuery(t, newTestEngine(t, tt.root), join)
			if len(rows) != 1 || !reflect.DeepEqual(rows[0], tt.want) {
				t.Errorf("got %v, want [%v]", rows, tt.want)
			}
		})
	}
	// Fleet's pass/fail form of the same check.
	pass := `SELECT 1 FROM mounts m JOIN disk_encryption d ON d.name = m.device_alias WHERE m.path = '/' AND d.encrypted = 1`
	if n := len(mustQuery(t, newTestEngine(t, luksRoot), pass)); n != 1 {
		t.Errorf("LUKS root: policy rows = %d, want 1", n)
	}
	if n := len(mustQuery(t, newTestEngine(t, rockyRoot), pass)); n != 0 {
		t.Errorf("plain LVM root: policy rows = %d, want 0", n)
	}
}

func TestDiskEncryptionOnLUKSWithLVM(t *testing.T) {
	got := rowsByKey(t, mustQuery(t, newTestEngine(t, luksRoot), "SELECT * FROM disk_encryption"), "name")
	enc := map[string]string{"encrypted": "1", "encryption_status": "encrypted", "type": "LUKS2-aes-xts-plain64"}
	plain := map[string]string{"encrypted": "0", "encryption_status": "not encrypted", "type": ""}
	want := map[string]map[string]string{
		"/dev/dm-0": enc, "/dev/dm-1": enc, "/dev/dm-2": enc,
		"/dev/nvme0n1": plain, "/dev/nvme0n1p1": plain, "/dev/nvme0n1p2": plain, "/dev/nvme0n1p3": plain,
		"/dev/sda": plain, "/dev/sda1": plain, "/dev/loop0": plain,
	}
	if len(got) != len(want) {
		t.Errorf("got %d devices, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		assertRow(t, name, got[name], w)
	}
	if u := got["/dev/nvme0n1p3"]["uuid"]; u != "6f6e2d0a-8c8b-4a8e-9d6a-3b1c2d3e4f50" {
		t.Errorf("LUKS container uuid = %q", u)
	}
}

// sysfsDM describes one block device of a synthetic layout.
type sysfsDM struct {
	uuid   string
	slaves []string
	parts  []string
}

func buildSysfs(t *testing.T, devs map[string]sysfsDM, extra map[string]string) string {
	t.Helper()
	files := map[string]string{}
	for name, d := range devs {
		dir := "sys/block/" + name
		files[dir+"/size"] = "100\n"
		if d.uuid != "" {
			files[dir+"/dm/uuid"] = d.uuid + "\n"
		}
		for _, s := range d.slaves {
			files[dir+"/slaves/"+s] = "->../../" + s
		}
		for i, p := range d.parts {
			files[dir+"/"+p+"/partition"] = itoa(i+1) + "\n"
		}
	}
	for k, v := range extra {
		files[k] = v
	}
	return writeTree(t, files)
}

func TestDiskEncryptionLayouts(t *testing.T) {
	luks1 := string(readFixture(t, "testdata/luks/luks1-aes-cbc.hdr"))
	tests := []struct {
		name  string
		devs  map[string]sysfsDM
		extra map[string]string
		want  map[string]string // device -> type, "" for not encrypted
	}{
		{"LVM spanning an encrypted and a plain PV is not encrypted",
			map[string]sysfsDM{
				"sda": {parts: []string{"sda1"}}, "sdb": {parts: []string{"sdb1"}},
				"dm-0": {uuid: "CRYPT-LUKS2-aaaa-crypt", slaves: []string{"sda1"}},
				"dm-1": {uuid: "LVM-vg-lv", slaves: []string{"dm-0", "sdb1"}},
			}, nil,
			map[string]string{"/dev/dm-0": "LUKS2", "/dev/dm-1": "", "/dev/sda1": "", "/dev/sdb1": ""}},
		{"LUKS1 cipher comes from the container header",
			map[string]sysfsDM{"vda": {parts: []string{"vda1"}}, "dm-0": {uuid: "CRYPT-LUKS1-0b9f-root", slaves: []string{"vda1"}}},
			map[string]string{"dev/vda1": luks1},
			map[string]string{"/dev/dm-0": "LUKS1-aes-cbc-essiv:sha256", "/dev/vda1": ""}},
		{"plain dm-crypt swap has no header",
			map[string]sysfsDM{"vda": {parts: []string{"vda2"}}, "dm-3": {uuid: "CRYPT-PLAIN-cryptswap", slaves: []string{"vda2"}}},
			nil, map[string]string{"/dev/dm-3": "PLAIN"}},
		{"dm-verity protects integrity only",
			map[string]sysfsDM{"vda": {parts: []string{"vda3"}}, "dm-0": {uuid: "CRYPT-VERITY-1234-root", slaves: []string{"vda3"}}},
			nil, map[string]string{"/dev/dm-0": ""}},
		{"md RAID on two LUKS members inherits",
			map[string]sysfsDM{
				"dm-0": {uuid: "CRYPT-LUKS2-aaaa-a", slaves: []string{"sda"}}, "dm-1": {uuid: "CRYPT-LUKS2-bbbb-b", slaves: []string{"sdb"}},
				"sda": {}, "sdb": {}, "md0": {slaves: []string{"dm-0", "dm-1"}, parts: []string{"md0p1"}},
			}, nil,
			map[string]string{"/dev/md0": "LUKS2", "/dev/md0p1": "LUKS2", "/dev/sda": ""}},
		{"slave missing from sysfs is not assumed encrypted",
			map[string]sysfsDM{"dm-5": {uuid: "LVM-x", slaves: []string{"gone"}}},
			nil, map[string]string{"/dev/dm-5": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := buildSysfs(t, tt.devs, tt.extra)
			got := rowsByKey(t, mustQuery(t, newTestEngine(t, root), "SELECT * FROM disk_encryption"), "name")
			for dev, typ := range tt.want {
				r, ok := got[dev]
				if !ok {
					t.Errorf("%s missing from %v", dev, got)
					continue
				}
				wantEnc := map[bool]string{true: "1", false: "0"}[typ != ""]
				if r["encrypted"] != wantEnc || r["type"] != typ {
					t.Errorf("%s: encrypted=%s type=%q, want %s %q", dev, r["encrypted"], r["type"], wantEnc, typ)
				}
			}
		})
	}
}

func TestBlockDevicesFromSysfs(t *testing.T) {
	got := rowsByKey(t, mustQuery(t, newTestEngine(t, luksRoot), "SELECT * FROM block_devices"), "name")
	want := map[string]map[string]string{
		"/dev/nvme0n1": {"parent": "", "model": "Samsung SSD 980 PRO 1TB", "serial": "S5GXNX0T123456A",
			"size": "1000215216", "block_size": "512", "type": ""},
		"/dev/nvme0n1p3": {"parent": "/dev/nvme0n1", "size": "993816576", "block_size": "512",
			"type": "crypto_LUKS", "uuid": "6f6e2d0a-8c8b-4a8e-9d6a-3b1c2d3e4f50"},
		"/dev/dm-0": {"parent": "/dev/nvme0n1p3"},
		"/dev/dm-1": {"parent": "/dev/dm-0", "size": "960000000"},
		"/dev/sda":  {"vendor": "SanDisk", "model": "Ultra", "serial": "t10.SanDisk Ultra 4C530001230517117384"},
		"/dev/sda1": {"parent": "/dev/sda", "vendor": ""},
	}
	for name, w := range want {
		assertRow(t, name, got[name], w)
	}
	// Partitions are listed right after their disk, in partition order.
	var order []string
	for _, r := range mustQuery(t, newTestEngine(t, luksRoot), "SELECT name FROM block_devices") {
		order = append(order, r["name"])
	}
	if want := []string{"/dev/dm-0", "/dev/dm-1", "/dev/dm-2", "/dev/loop0", "/dev/nvme0n1", "/dev/nvme0n1p1",
		"/dev/nvme0n1p2", "/dev/nvme0n1p3", "/dev/sda", "/dev/sda1"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order = %v", order)
	}
}

func TestBlockDevicesUseUdevDatabaseForBlkidFields(t *testing.T) {
	root := writeTree(t, map[string]string{
		"sys/block/sdb/dev": "8:16\n", "sys/block/sdb/size": "2048\n",
		"sys/block/sdb/sdb1/partition": "1\n", "sys/block/sdb/sdb1/dev": "8:17\n",
		"sys/block/sdb/queue/logical_block_size": "4096\n",
		"run/udev/data/b8:16":                    "E:ID_MODEL=Cruzer_Blade\nE:ID_SERIAL_SHORT=4C5300012\nE:ID_PART_TABLE_TYPE=gpt\n",
		"run/udev/data/b8:17":                    "E:ID_FS_TYPE=ext4\nE:ID_FS_UUID=3e6be9de-8139-11d1-9106-a43f08d823a6\nE:ID_FS_LABEL=backup\n",
	})
	got := rowsByKey(t, mustQuery(t, newTestEngine(t, root), "SELECT * FROM block_devices"), "name")
	assertRow(t, "sdb", got["/dev/sdb"], map[string]string{"model": "Cruzer_Blade", "serial": "4C5300012", "block_size": "4096"})
	assertRow(t, "sdb1", got["/dev/sdb1"], map[string]string{"type": "ext4", "label": "backup",
		"uuid": "3e6be9de-8139-11d1-9106-a43f08d823a6", "block_size": "4096", "parent": "/dev/sdb", "size": ""})
}

func TestMountsResolveDeviceAliasInsideRoot(t *testing.T) {
	got := rowsByKey(t, mustQuery(t, newTestEngine(t, luksRoot), "SELECT * FROM mounts"), "path")
	if len(got) != 9 {
		t.Errorf("got %d mounts, want 9", len(got))
	}
	tests := map[string]map[string]string{
		"/":                    {"device": "/dev/mapper/vgubuntu-root", "device_alias": "/dev/dm-1", "type": "ext4", "flags": "rw,relatime,errors=remount-ro"},
		"/boot/efi":            {"device": "/dev/nvme0n1p1", "device_alias": "/dev/nvme0n1p1", "type": "vfat"},
		"/dev":                 {"device": "udev", "device_alias": "udev"},
		"/media/alice/My Disk": {"device": "/dev/sda1", "device_alias": "/dev/sda1"},
	}
	for path, w := range tests {
		assertRow(t, path, got[path], w)
	}
	// statfs is only meaningful on the live host.
	assertRow(t, "/", got["/"], map[string]string{"blocks": "0", "blocks_size": "0", "inodes_free": "0"})
}

func TestRealpathStaysInsideRoot(t *testing.T) {
	root := writeTree(t, map[string]string{
		"dev/dm-1": "", "dev/mapper/absolute": "->/dev/dm-1", "dev/mapper/relative": "->../dm-1",
		"dev/mapper/dangling": "->../dm-9", "dev/mapper/escape": "->../../../../../../etc/passwd",
		"dev/loop-a": "->loop-b", "dev/loop-b": "->loop-a",
	})
	fs := rootFS{root: root}
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/dev/mapper/absolute", "/dev/dm-1", true},
		{"/dev/mapper/relative", "/dev/dm-1", true},
		{"/dev/mapper/dangling", "", false},
		{"/dev/mapper/escape", "", false}, // clamps at the root: /etc/passwd is not in this tree
		{"/dev/loop-a", "", false},
		{"tmpfs", "", false},
	}
	for _, tt := range tests {
		got, ok := fs.realpath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("realpath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOSVersionSystemInfoKernelUptime(t *testing.T) {
	e := newTestEngine(t, luksRoot)
	assertRow(t, "os_version", mustQuery(t, e, "SELECT * FROM os_version")[0], map[string]string{
		"name": "Ubuntu", "version": "24.04.1 LTS (Noble Numbat)", "major": "24", "minor": "4", "patch": "0",
		"platform": "ubuntu", "platform_like": "debian", "codename": "noble", "build": ""})
	// INTEGER affinity makes "04" compare as a number, as osquery's typed column does.
	if n := len(mustQuery(t, e, "SELECT 1 FROM os_version WHERE major = 24 AND minor >= 4")); n != 1 {
		t.Errorf("numeric version comparison matched %d rows", n)
	}
	assertRow(t, "rocky os_version", mustQuery(t, newTestEngine(t, rockyRoot), "SELECT * FROM os_version")[0],
		map[string]string{"name": "Rocky Linux", "version": "Rocky Linux release 9.4 (Blue Onyx)", "platform": "rhel", "major": "9", "minor": "4"})

	assertRow(t, "system_info", mustQuery(t, e, "SELECT * FROM system_info")[0], map[string]string{
		"hostname": "alice-laptop", "uuid": "4c4c4544-0042-3510-8054-b3c04f4e3732",
		"cpu_brand": "11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "cpu_physical_cores": "2",
		"cpu_logical_cores": "4", "physical_memory": "33358077952", "hardware_vendor": "Dell Inc.",
		"hardware_model": "XPS 13 9310", "hardware_serial": "7B3XYZ1", "board_serial": "/7B3XYZ1/CNCMK0012345/",
		"computer_name": "alice-laptop", "local_hostname": "alice-laptop", "cpu_subtype": "140"})
	// No DMI: identity falls back to machine-id, hostname to /etc/hostname.
	assertRow(t, "rocky system_info", mustQuery(t, newTestEngine(t, rockyRoot), "SELECT * FROM system_info")[0],
		map[string]string{"uuid": "a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90", "hostname": "db-01.example.internal", "hardware_vendor": ""})

	assertRow(t, "kernel_info", mustQuery(t, e, "SELECT * FROM kernel_info")[0], map[string]string{
		"version": "6.8.0-45-generic", "path": "/vmlinuz-6.8.0-45-generic", "device": "/dev/mapper/vgubuntu-root"})
	assertRow(t, "uptime", mustQuery(t, e, "SELECT * FROM uptime")[0], map[string]string{
		"days": "1", "hours": "2", "minutes": "3", "seconds": "4", "total_seconds": "93784"})
}

func TestMissingSourcesGiveNoRowsNotErrors(t *testing.T) {
	e := newTestEngine(t, t.TempDir())
	for _, table := range []string{"kernel_info", "uptime", "mounts", "block_devices", "disk_encryption",
		"deb_packages", "processes", "users", "fleetproof_auto_updates", "fleetproof_screenlock",
		"apt_sources", "logged_in_users", "rpm_packages"} {
		if rows := mustQuery(t, e, "SELECT * FROM "+table); len(rows) != 0 {
			t.Errorf("%s on an empty root: %v", table, rows)
		}
	}
	// os_version always has a row, with osquery's defaults.
	assertRow(t, "os_version", mustQuery(t, e, "SELECT * FROM os_version")[0],
		map[string]string{"name": "Unknown", "platform": "posix", "major": "0"})
}

func TestProcessesFromProc(t *testing.T) {
	got := rowsByKey(t, mustQuery(t, newTestEngine(t, luksRoot), "SELECT * FROM processes"), "pid")
	if len(got) != 3 {
		t.Fatalf("got %d processes, want 3 (non-numeric /proc entries skipped)", len(got))
	}
	assertRow(t, "init", got["1"], map[string]string{
		"name": "systemd", "path": "/usr/lib/systemd/systemd", "on_disk": "1", "cmdline": "/sbin/init splash",
		"state": "S", "uid": "0", "parent": "0", "start_time": "1727000000", "user_time": "2010",
		"system_time": "1870", "resident_size": "13176000", "total_size": "22808000",
		"disk_bytes_read": "1048576", "disk_bytes_written": "405504", "cgroup_path": "/init.scope", "cwd": "/"})
	assertRow(t, "deleted binary", got["4242"], map[string]string{
		"name": "my (weird) proc", "path": "/opt/app/bin/app", "on_disk": "0", "uid": "1000", "euid": "1000",
		"parent": "1", "nice": "5", "threads": "3", "start_time": "1727002500", "disk_bytes_read": ""})
	assertRow(t, "kernel thread", got["77"], map[string]string{
		"name": "kworker/0:1-events", "path": "", "on_disk": "-1", "cmdline": "", "resident_size": ""})
}

func TestUsersFromPasswd(t *testing.T) {
	got := rowsByKey(t, mustQuery(t, newTestEngine(t, luksRoot), "SELECT * FROM users"), "username")
	assertRow(t, "alice", got["alice"], map[string]string{"uid": "1000", "gid": "1000", "uid_signed": "1000",
		"description": "Alice Example,,,", "directory": "/home/alice", "shell": "/bin/bash", "uuid": ""})
	assertRow(t, "nfsnobody", got["nfsnobody"], map[string]string{"uid": "4294967294", "uid_signed": "-2", "gid_signed": "-2"})
}

func TestDebPackagesTable(t *testing.T) {
	e := newTestEngine(t, luksRoot)
	rows := mustQuery(t, e, "SELECT name, version FROM deb_packages WHERE status = 'install ok installed' ORDER BY name")
	want := []map[string]string{
		{"name": "bash", "version": "5.2.21-2ubuntu4"}, {"name": "libcap2", "version": "1:2.66-5ubuntu2"},
		{"name": "unattended-upgrades", "version": "2.9.1+nmu4ubuntu1"}, {"name": "zlib1g", "version": "1:1.3.dfsg-3.1ubuntu2.1"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got %v", rows)
	}
}
