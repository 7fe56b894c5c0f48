package inventory

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// Status is where a row stands in the reconciliation.
type Status string

// Statuses, in the order rows are listed: gaps first.
const (
	// Missing: an in-scope inventory row no enrolled device matches; the
	// device never enrolled, so it produces no evidence.
	Missing Status = "missing"
	// Unknown: an enrolled device no inventory row matches.
	Unknown Status = "unknown"
	// Matched: an in-scope inventory row and its enrolled device.
	Matched Status = "matched"
	// OutOfScope: an out-of-scope inventory row, with its device if one
	// enrolled.
	OutOfScope Status = "out_of_scope"
)

var statusOrder = map[Status]int{Missing: 0, Unknown: 1, Matched: 2, OutOfScope: 3}

// MatchKind says which identifier joined a row to a device.
type MatchKind string

// Match kinds, strongest first.
const (
	BySerial       MatchKind = "serial"
	ByHardwareUUID MatchKind = "hardware_uuid"
	ByHostname     MatchKind = "hostname"
)

// Row is one line of the reconciliation: an inventory row, a device, or
// both. A row matched to several devices (one machine enrolled twice)
// appears once per device.
type Row struct {
	Status    Status    `json:"status"`
	MatchedBy MatchKind `json:"matched_by,omitempty"`
	// Weak marks a match on hostname alone, which deserves a human look.
	Weak bool `json:"weak,omitempty"`
	// Inventory side; Line is 0 for an unknown device.
	Line     int    `json:"line,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Platform string `json:"platform,omitempty"`
	// Device side; empty for a missing row.
	DeviceID       string `json:"device_id,omitempty"`
	DeviceSerial   string `json:"device_serial,omitempty"`
	DeviceHostname string `json:"device_hostname,omitempty"`
	Note           string `json:"note,omitempty"`
}

// Summary counts the population. Items are counted once however many
// devices match them.
type Summary struct {
	InventoryRows int `json:"inventory_rows"`
	InScope       int `json:"in_scope"`
	Matched       int `json:"matched"`
	WeakMatches   int `json:"weak_matches"`
	Missing       int `json:"missing"`
	OutOfScope    int `json:"out_of_scope"`
	Devices       int `json:"devices"`
	Unknown       int `json:"unknown"`
	// Coverage is the percentage of in-scope rows matched to a device.
	Coverage float64 `json:"coverage_percent"`
}

// Reconciliation is an inventory reconciled with the enrolled devices.
type Reconciliation struct {
	// At and Snapshot are set by ReconcileAt; Reconcile leaves them zero.
	At       time.Time                `json:"at,omitzero"`
	Snapshot *store.InventorySnapshot `json:"snapshot,omitempty"`
	Summary  Summary                  `json:"summary"`
	Rows     []Row                    `json:"rows"`
}

// Reconcile matches inventory items with enrolled devices; see the package
// doc for the rules. It is pure: the same inputs give the same rows in the
// same order.
func Reconcile(items []Item, devices []store.Device) Reconciliation {
	used := make([]bool, len(devices))
	type match struct {
		devs []int
		kind MatchKind
	}
	matches := make([]match, len(items))
	notes := make([]string, len(items))
	devNotes := make([]string, len(devices))

	// Strong identifiers: every unused device with the key matches.
	strong := func(kind MatchKind, devKey func(store.Device) string, itemKeys func(Item) []string) {
		index := map[string][]int{}
		for j, d := range devices {
			if k := devKey(d); k != "" && !used[j] {
				index[k] = append(index[k], j)
			}
		}
		for i, it := range items {
			if matches[i].devs != nil {
				continue
			}
			for _, k := range itemKeys(it) {
				for _, j := range index[k] {
					if !used[j] {
						used[j] = true
						matches[i].devs = append(matches[i].devs, j)
					}
				}
			}
			if matches[i].devs != nil {
				matches[i].kind = kind
			}
		}
	}
	strong(BySerial, func(d store.Device) string { return usableSerial(d.Serial) },
		func(it Item) []string { return nonEmpty(usableSerial(it.Serial)) })
	strong(ByHardwareUUID, func(d store.Device) string { return usableUUID(d.HardwareUUID) },
		func(it Item) []string { return nonEmpty(usableUUID(it.HardwareUUID), usableUUID(it.Serial)) })

	// Hostnames are reused and renamed, so only a one-to-one pairing whose
	// identifiers do not contradict it counts, and it is flagged weak.
	hostItems, hostDevs := map[string][]int{}, map[string][]int{}
	for i, it := range items {
		if k := hostKey(it.Hostname); k != "" && matches[i].devs == nil {
			hostItems[k] = append(hostItems[k], i)
		}
	}
	for j, d := range devices {
		if k := hostKey(d.Hostname); k != "" && !used[j] {
			hostDevs[k] = append(hostDevs[k], j)
		}
	}
	for k, is := range hostItems {
		js := hostDevs[k]
		switch {
		case len(js) == 0:
		case len(is) > 1 || len(js) > 1:
			for _, i := range is {
				notes[i] = fmt.Sprintf("hostname shared by %d rows and %d devices: not matched", len(is), len(js))
			}
			for _, j := range js {
				devNotes[j] = notes[is[0]]
			}
		case contradicts(items[is[0]], devices[js[0]]):
			i, j := is[0], js[0]
			notes[i] = fmt.Sprintf("device %s has this hostname but serial %q", devices[j].DeviceID, devices[j].Serial)
			devNotes[j] = fmt.Sprintf("inventory line %d has this hostname but serial %q", items[i].Line, items[i].Serial)
		default:
			used[js[0]] = true
			matches[is[0]] = match{devs: js, kind: ByHostname}
		}
	}

	var rec Reconciliation
	s := &rec.Summary
	s.InventoryRows, s.Devices = len(items), len(devices)
	for i, it := range items {
		status := OutOfScope
		if it.InScope {
			s.InScope++
			status = Missing
			if matches[i].devs != nil {
				status = Matched
				s.Matched++
				if matches[i].kind == ByHostname {
					s.WeakMatches++
				}
			} else {
				s.Missing++
			}
		} else {
			s.OutOfScope++
		}
		base := Row{Status: status, Line: it.Line, Serial: it.Serial, Hostname: it.Hostname, Owner: it.Owner,
			Platform: it.Platform, Note: notes[i]}
		if matches[i].devs == nil {
			rec.Rows = append(rec.Rows, base)
			continue
		}
		for _, j := range matches[i].devs {
			r := base
			r.MatchedBy, r.Weak = matches[i].kind, matches[i].kind == ByHostname
			r.DeviceID, r.DeviceSerial, r.DeviceHostname = devices[j].DeviceID, devices[j].Serial, devices[j].Hostname
			if n := len(matches[i].devs); n > 1 {
				r.Note = fmt.Sprintf("%d enrolled devices share this %s (re-enrolled?)", n, matches[i].kind)
			}
			rec.Rows = append(rec.Rows, r)
		}
	}
	for j, d := range devices {
		if !used[j] {
			s.Unknown++
			rec.Rows = append(rec.Rows, Row{Status: Unknown, DeviceID: d.DeviceID, DeviceSerial: d.Serial,
				DeviceHostname: d.Hostname, Note: devNotes[j]})
		}
	}
	if s.InScope > 0 {
		s.Coverage = float64(s.Matched) * 100 / float64(s.InScope)
	}
	sort.SliceStable(rec.Rows, func(a, b int) bool {
		ra, rb := rec.Rows[a], rec.Rows[b]
		if ra.Status != rb.Status {
			return statusOrder[ra.Status] < statusOrder[rb.Status]
		}
		if ra.Line != rb.Line {
			return ra.Line < rb.Line
		}
		return ra.DeviceID < rb.DeviceID
	})
	if rec.Rows == nil {
		rec.Rows = []Row{}
	}
	return rec
}

// contradicts reports whether a row and a device carry different real
// serials or hardware UUIDs: then a shared hostname is a renamed or
// replaced machine, and pairing them would hide two gaps.
func contradicts(it Item, d store.Device) bool {
	if a, b := usableSerial(it.Serial), usableSerial(d.Serial); a != "" && b != "" && a != b {
		return true
	}
	a, b := usableUUID(it.HardwareUUID), usableUUID(d.HardwareUUID)
	return a != "" && b != "" && a != b
}

// serialKey is how serials compare: ignoring case and surrounding space.
func serialKey(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// placeholderSerials are what firmware reports when nobody set a serial;
// many machines share them, so they identify nothing.
var placeholderSerials = map[string]bool{
	"0": true, "NONE": true, "N/A": true, "NA": true, "NULL": true, "UNKNOWN": true, "NOT AVAILABLE": true,
	"NOT SPECIFIED": true, "DEFAULT STRING": true, "TO BE FILLED BY O.E.M.": true, "SYSTEM SERIAL NUMBER": true,
	"CHASSIS SERIAL NUMBER": true, "0123456789": true, "123456789": true, "SERIAL": true,
}

// placeholderUUIDs likewise: all-zero, all-F and a well-known OEM default.
var placeholderUUIDs = map[string]bool{
	"00000000-0000-0000-0000-000000000000": true, "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": true,
	"03000200-0400-0500-0006-000700080009": true,
}

// IsPlaceholderSerial reports whether s is a firmware placeholder.
func IsPlaceholderSerial(s string) bool { return placeholderSerials[serialKey(s)] }

func usableSerial(s string) string {
	k := serialKey(s)
	if placeholderSerials[k] {
		return ""
	}
	return k
}

func usableUUID(s string) string {
	k := strings.Trim(serialKey(s), "{}")
	if placeholderUUIDs[k] || placeholderSerials[k] {
		return ""
	}
	return k
}

// hostKey compares hostnames by their first label, ignoring case, so
// "alice-mbp", "Alice-MBP.local" and "alice-mbp.corp.example.com" agree.
func hostKey(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	h, _, _ = strings.Cut(h, ".")
	return h
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
