package extract

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/inventory"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// NoInventory is the population status of every device when no asset
// inventory was imported: completeness then rests on enrollment alone,
// and the README says so.
const NoInventory = "no inventory imported"

// inSampleFrame reports whether a population row with this status is
// drawn from: enrolled devices in scope. Missing devices have no evidence
// to test (they are findings themselves) and out-of-scope ones are not
// part of the audit.
func inSampleFrame(status string) bool {
	return status != string(inventory.Missing) && status != string(inventory.OutOfScope)
}

// member is an enrolled device in the extract's population.
type member struct {
	store.Device
	RevokedAt time.Time // zero when not revoked
	Checks    []string  // the extract's checks that apply to its OS
}

// popRow is one line of population.csv: a device, an inventory row, or both.
type popRow struct {
	dev    *member // nil for an inventory row no device matches
	status string
	inv    inventory.Row
}

type population struct {
	rows    []popRow
	members map[string]*member
	frame   []string
	// Inventory is nil when no snapshot was used.
	Inventory *InventoryInfo
	// SnapshotRule says how the snapshot was chosen, for the README.
	SnapshotRule string
}

// buildPopulation selects the enrolled devices in scope for the period
// and reconciles them with the inventory snapshot: the one named, else
// the newest imported by the end of the period, else the first imported
// after it (an inventory taken during fieldwork still beats none).
func (w *writer) buildPopulation(ctx context.Context) (*population, error) {
	devices, err := w.src.Devices(ctx)
	if err != nil {
		return nil, err
	}
	revs, err := w.src.Revocations(ctx)
	if err != nil {
		return nil, err
	}
	revoked := map[string]time.Time{}
	for _, r := range revs {
		if t, ok := revoked[r.DeviceID]; !ok || r.RevokedAt.Before(t) {
			revoked[r.DeviceID] = r.RevokedAt.UTC()
		}
	}
	p := &population{members: map[string]*member{}}
	var enrolled []store.Device
	for _, d := range devices {
		w.hostnames[d.DeviceID] = d.Hostname
		rev := revoked[d.DeviceID]
		if !d.EnrolledAt.Before(w.end) || (!rev.IsZero() && !rev.After(w.start)) {
			continue
		}
		m := &member{Device: d, RevokedAt: rev}
		for _, c := range w.checks {
			if _, ok := c.On(d.OS); ok {
				m.Checks = append(m.Checks, c.ID)
			}
		}
		p.members[d.DeviceID] = m
		enrolled = append(enrolled, d)
		w.seen(d.UpdatedAt)
		w.seen(rev)
	}

	snap, rule, err := w.chooseSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	p.SnapshotRule = rule
	if snap == nil {
		for _, d := range enrolled {
			p.rows = append(p.rows, popRow{dev: p.members[d.DeviceID], status: NoInventory})
		}
	} else {
		items, err := w.src.InventoryItems(ctx, snap.ID)
		if err != nil {
			return nil, err
		}
		rec := inventory.Reconcile(items, enrolled)
		for _, r := range rec.Rows {
			p.rows = append(p.rows, popRow{dev: p.members[r.DeviceID], status: string(r.Status), inv: r})
		}
		s := rec.Summary
		p.Inventory = &InventoryInfo{SnapshotID: snap.ID, ImportedAt: snap.ImportedAt.UTC(), Source: snap.Source,
			FileSHA256: snap.FileSHA256, Rows: int(snap.Rows), Matched: s.Matched, Missing: s.Missing,
			Unknown: s.Unknown, OutOfScope: s.OutOfScope}
		w.seen(snap.ImportedAt)
	}
	for _, r := range p.rows {
		if r.dev != nil && inSampleFrame(r.status) {
			p.frame = append(p.frame, r.dev.DeviceID)
		}
	}
	return p, nil
}

func (w *writer) chooseSnapshot(ctx context.Context) (*store.InventorySnapshot, string, error) {
	if w.opts.InventorySnapshot != "" {
		snap, err := w.src.InventorySnapshot(ctx, w.opts.InventorySnapshot)
		if err != nil {
			return nil, "", err
		}
		return &snap, "the snapshot named when the extract was made (-inventory " + snap.ID + ")", nil
	}
	last := w.end.Add(-time.Second)
	snap, err := w.src.InventorySnapshotAt(ctx, last)
	if err == nil {
		return &snap, "the newest snapshot imported by the end of the period", nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, "", err
	}
	all, err := w.src.InventorySnapshots(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, s := range all { // oldest first
		if !s.ImportedAt.Before(w.end) {
			return &s, "the first snapshot imported after the period (none was imported by its end)", nil
		}
	}
	return nil, "none: no asset inventory has been imported", nil
}

var populationHeader = []string{"device_id", "hostname", "os", "platform", "platform_version", "serial", "hardware_uuid",
	"agent_version", "tags", "enrolled_at", "revoked_at", "applicable_checks", "inventory_status", "matched_by",
	"inventory_line", "inventory_serial", "inventory_hostname", "inventory_owner", "inventory_platform", "note"}

func (w *writer) writePopulation(p *population) error {
	t, err := w.newTable(PopulationFile, populationHeader)
	if err != nil {
		return err
	}
	for _, r := range p.rows {
		rec := make([]string, 0, len(populationHeader))
		if d := r.dev; d != nil {
			tags, _ := json.Marshal(d.Tags) // map keys are sorted: deterministic
			if d.Tags == nil {
				tags = []byte("{}")
			}
			rec = append(rec, d.DeviceID, d.Hostname, d.OS, d.Platform, d.PlatformVersion, d.Serial, d.HardwareUUID,
				d.AgentVersion, string(tags), stamp(d.EnrolledAt), stamp(d.RevokedAt), strings.Join(d.Checks, " "))
		} else {
			rec = append(rec, make([]string, 12)...)
		}
		by := string(r.inv.MatchedBy)
		if r.inv.Weak {
			by += " (weak)"
		}
		line := ""
		if r.inv.Line > 0 {
			line = strconv.Itoa(r.inv.Line)
		}
		rec = append(rec, r.status, by, line, r.inv.Serial, r.inv.Hostname, r.inv.Owner, r.inv.Platform, r.inv.Note)
		if err := t.add(rec...); err != nil {
			return err
		}
	}
	w.files[PopulationFile] = t.rows
	return t.close()
}

// stamp formats an instant as RFC 3339 in UTC, with the sub-second part
// only when there is one; the zero time is an empty cell.
func stamp(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// sortedKeys is used where a map feeds a file: map order would differ
// between runs.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
