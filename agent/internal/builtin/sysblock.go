package builtin

import (
	"sort"
	"strconv"
	"strings"
)

// blockDev is one block device or partition as sysfs describes it.
type blockDev struct {
	kname   string            // kernel name: sda, sda1, dm-0, nvme0n1p2
	sys     string            // host path of its sysfs directory
	disk    string            // for partitions: the whole disk's kname
	slaves  []string          // knames of the devices it is built on (dm, md)
	dmUUID  string            // device-mapper uuid, e.g. CRYPT-LUKS2-<hex>-<name>
	udev    map[string]string // E: properties from the udev database, may be empty
	partNum int
}

// blockDevices enumerates /sys/block/* and each disk's partitions (the
// subdirectories holding a "partition" file). This avoids resolving the
// /sys/class/block symlinks, so a fake tree may use real symlinks or plain
// directories alike.
func (e *Engine) blockDevices() []*blockDev {
	var out []*blockDev
	for _, name := range e.fs.list("/sys/block") {
		d := e.loadBlockDev(name, "/sys/block/"+name, "")
		out = append(out, d)
		var parts []*blockDev
		for _, sub := range e.fs.list(d.sys) {
			if !e.fs.exists(d.sys + "/" + sub + "/partition") {
				continue
			}
			parts = append(parts, e.loadBlockDev(sub, d.sys+"/"+sub, name))
		}
		sort.SliceStable(parts, func(i, j int) bool { return parts[i].partNum < parts[j].partNum })
		out = append(out, parts...)
	}
	return out
}

func (e *Engine) loadBlockDev(kname, sys, disk string) *blockDev {
	d := &blockDev{kname: kname, sys: sys, disk: disk, slaves: e.fs.list(sys + "/slaves")}
	d.dmUUID = e.fs.readString(sys + "/dm/uuid")
	d.partNum, _ = strconv.Atoi(e.fs.readString(sys + "/partition"))
	d.udev = map[string]string{}
	if devnum := e.fs.readString(sys + "/dev"); devnum != "" {
		if b, err := e.fs.read("/run/udev/data/b" + devnum); err == nil {
			d.udev = parseUdevData(b)
		}
	}
	return d
}

// parent is the device this one sits on: the disk of a partition, or the
// first slave of a dm/md device. osquery takes the latter from LVM's
// PV list, which for a single-PV volume group is the same device.
func (d *blockDev) parent() string {
	if d.disk != "" {
		return "/dev/" + d.disk
	}
	if len(d.slaves) > 0 {
		return "/dev/" + d.slaves[0]
	}
	return ""
}

// parseUdevData reads the "E:KEY=value" property lines of a udev database
// entry (/run/udev/data/b<major>:<minor>), which carry what blkid probed
// when the device appeared: ID_FS_TYPE, ID_FS_UUID, ID_FS_LABEL, ID_MODEL.
func parseUdevData(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		kv, ok := strings.CutPrefix(line, "E:")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// cryptSubtype returns the dm-crypt flavour from a device-mapper uuid
// ("CRYPT-LUKS2-…" -> "LUKS2"), or "" when the device is not an encrypting
// mapping. cryptsetup also uses the CRYPT- prefix for dm-verity,
// dm-integrity and the integrity sub-devices of authenticated LUKS2; those
// protect integrity, not confidentiality, so they do not count.
func cryptSubtype(dmUUID string) string {
	rest, ok := strings.CutPrefix(dmUUID, "CRYPT-")
	if !ok {
		return ""
	}
	sub, _, _ := strings.Cut(rest, "-")
	switch sub {
	case "LUKS1", "LUKS2", "LUKS", "PLAIN", "LOOPAES", "TCRYPT", "BITLK", "FVAULT2":
		return sub
	}
	return ""
}
