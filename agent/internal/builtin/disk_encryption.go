package builtin

import "context"

var diskEncryptionTable = &tableDef{
	name:    "disk_encryption",
	columns: cols("name TEXT", "uuid TEXT", "encrypted INTEGER", "type TEXT", "encryption_status TEXT"),
	gen:     genDiskEncryption,
}

type encState struct {
	encrypted bool
	typ       string
}

// encryption decides whether data written to d ends up encrypted: d is an
// active dm-crypt mapping, or everything it is built on (its disk, or all
// of its dm/md slaves) is. So an LVM volume on LUKS inherits, while a
// volume group spanning one encrypted and one plain PV does not. osquery
// inherits from the single parent only; requiring all slaves is stricter.
func (inv *blockInventory) encryption(d *blockDev, memo map[string]encState, depth int) encState {
	if s, ok := memo[d.kname]; ok {
		return s
	}
	var s encState
	if sub := cryptSubtype(d.dmUUID); sub != "" {
		s = encState{encrypted: true, typ: sub}
		if len(d.slaves) == 1 {
			if h, ok := inv.luks[d.slaves[0]]; ok && h.cipher != "" {
				s.typ = sub + "-" + h.cipher
			}
		}
	} else if under := d.slaves; len(under) > 0 || d.disk != "" {
		if d.disk != "" {
			under = []string{d.disk}
		}
		s = encState{encrypted: depth < 32}
		for _, name := range under {
			p, ok := inv.byName[name]
			if !ok || depth >= 32 {
				s = encState{}
				break
			}
			ps := inv.encryption(p, memo, depth+1)
			if !ps.encrypted {
				s = encState{}
				break
			}
			if s.typ == "" {
				s.typ = ps.typ
			}
		}
	}
	memo[d.kname] = s
	return s
}

func genDiskEncryption(_ context.Context, e *Engine) ([]row, error) {
	inv := e.inventory()
	memo := map[string]encState{}
	rows := make([]row, 0, len(inv.devs))
	for _, d := range inv.devs {
		s := inv.encryption(d, memo, 0)
		r := row{"name": "/dev/" + d.kname, "uuid": inv.uuid(d), "encrypted": int64(0),
			"type": "", "encryption_status": "not encrypted"}
		if s.encrypted {
			r["encrypted"], r["type"], r["encryption_status"] = int64(1), s.typ, "encrypted"
		}
		rows = append(rows, r)
	}
	return rows, nil
}
