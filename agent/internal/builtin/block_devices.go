package builtin

import (
	"context"
	"strconv"
)

var blockDevicesTable = &tableDef{
	name: "block_devices",
	columns: cols("name TEXT", "parent TEXT", "vendor TEXT", "model TEXT", "serial TEXT", "size BIGINT",
		"block_size INTEGER", "uuid TEXT", "type TEXT", "label TEXT"),
	gen: genBlockDevices,
}

// blockInventory is the block device list plus the LUKS headers of the
// containers beneath dm-crypt mappings, shared by block_devices and
// disk_encryption.
type blockInventory struct {
	devs   []*blockDev
	byName map[string]*blockDev
	luks   map[string]luksHeader // container kname -> header
}

func (e *Engine) inventory() *blockInventory {
	inv := &blockInventory{devs: e.blockDevices(), byName: map[string]*blockDev{}, luks: map[string]luksHeader{}}
	for _, d := range inv.devs {
		inv.byName[d.kname] = d
	}
	// Only containers of active mappings are probed: reading every device
	// node would wake sleeping disks and optical drives.
	for _, d := range inv.devs {
		if cryptSubtype(d.dmUUID) == "" || len(d.slaves) != 1 {
			continue
		}
		if h, ok := e.readLUKSHeader("/dev/" + d.slaves[0]); ok {
			inv.luks[d.slaves[0]] = h
		}
	}
	return inv
}

// uuid and fsType come from the udev database (blkid's probe results);
// without udev data only LUKS containers are identified, from their header.
func (inv *blockInventory) uuid(d *blockDev) string {
	if u := d.udev["ID_FS_UUID"]; u != "" {
		return u
	}
	return inv.luks[d.kname].uuid
}

func (inv *blockInventory) fsType(d *blockDev) string {
	if t := d.udev["ID_FS_TYPE"]; t != "" {
		return t
	}
	if _, ok := inv.luks[d.kname]; ok {
		return "crypto_LUKS"
	}
	return ""
}

func genBlockDevices(_ context.Context, e *Engine) ([]row, error) {
	inv := e.inventory()
	rows := make([]row, 0, len(inv.devs))
	for _, d := range inv.devs {
		r := row{
			"name": "/dev/" + d.kname, "parent": d.parent(),
			"vendor": e.fs.readString(d.sys + "/device/vendor"),
			"model":  firstNonEmpty(d.udev["ID_MODEL_FROM_DATABASE"], d.udev["ID_MODEL"], e.fs.readString(d.sys+"/device/model")),
			"serial": firstNonEmpty(e.fs.readString(d.sys+"/device/wwid"), e.fs.readString(d.sys+"/serial"),
				e.fs.readString(d.sys+"/device/serial"), d.udev["ID_SERIAL_SHORT"]),
			"uuid": inv.uuid(d), "type": inv.fsType(d), "label": d.udev["ID_FS_LABEL"],
		}
		if n, err := strconv.ParseInt(e.fs.readString(d.sys+"/size"), 10, 64); err == nil {
			r["size"] = n
		}
		// Partitions have no queue directory; they share the disk's.
		bs := e.fs.readString(d.sys + "/queue/logical_block_size")
		if bs == "" && d.disk != "" {
			bs = e.fs.readString("/sys/block/" + d.disk + "/queue/logical_block_size")
		}
		if n, err := strconv.ParseInt(bs, 10, 64); err == nil {
			r["block_size"] = n
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
