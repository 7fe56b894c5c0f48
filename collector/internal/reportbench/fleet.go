package reportbench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/queries"
)

// Scale is the synthetic fleet's size: every device reports every check
// once an hour for Days days (less the hours it is silent).
type Scale struct {
	Devices int
	Checks  int
	Days    int
}

// Full is the data set: 10,000 devices x 20 checks x 90 days of
// hourly results, 432M observations.
var Full = Scale{Devices: 10_000, Checks: 20, Days: 90}

func (s Scale) String() string {
	return fmt.Sprintf("%d devices x %d checks x %d days hourly", s.Devices, s.Checks, s.Days)
}

// Slots is devices x checks x hours: the observations of the period if no
// device were ever silent.
func (s Scale) Slots() int64 { return int64(s.Devices) * int64(s.Checks) * int64(s.Days) * 24 }

// Start is the first day of every fleet's period: a fixed date, so a
// cached data set and the instants the benchmarks ask about agree whatever
// the wall clock says. 2025-01-01 + 90 days spans three monthly partitions
// (January, February, March), as a quarter does in production.
var Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// osNames are the device operating systems, in the index order the SQL
// uses: device n runs osNames[osOf(n)].
var osNames = [...]string{"darwin", "windows", "linux"}

// osOf is the fleet's OS mix (60% macOS, 30% Windows, 10% Linux), written
// once in Go and once in SQL (osSQL); TestOSMixAgrees keeps them equal.
func osOf(n int) int {
	switch m := n % 10; {
	case m < 6:
		return 0
	case m < 9:
		return 1
	default:
		return 2
	}
}

// osSQL is osOf over the column or expression x.
func osSQL(x string) string {
	return fmt.Sprintf("multiIf(%[1]s %% 10 < 6, 0, %[1]s %% 10 < 9, 1, 2)", x)
}

// Fleet is a synthetic fleet: which checks it reports and on which OSes
// each applies.
type Fleet struct {
	Scale
	// CheckIDs are the catalog's checks (the real ones, with their control
	// mappings, so compliance and extracts select them as in production),
	// then synthetic ids check_NN up to Scale.Checks.
	CheckIDs []string
	// applies[c][os] says whether CheckIDs[c] has SQL for osNames[os]; a
	// check that does not apply reports not_applicable, hourly like the rest.
	applies  [][len(osNames)]bool
	versions []int
	pack     queries.Pack
}

// NewFleet lays out a fleet of the given scale over cat's checks.
func NewFleet(s Scale, cat *queries.Catalog) (*Fleet, error) {
	if s.Devices <= 0 || s.Checks <= 0 || s.Days <= 0 {
		return nil, fmt.Errorf("reportbench: scale %s: every dimension must be positive", s)
	}
	if s.Devices > 99_999 {
		return nil, fmt.Errorf("reportbench: scale %s: device ids have five digits", s)
	}
	f := &Fleet{Scale: s, pack: cat.Pack}
	for _, c := range cat.Checks {
		if len(f.CheckIDs) == s.Checks {
			break
		}
		var on [len(osNames)]bool
		for i, os := range osNames {
			_, on[i] = c.Platforms[os]
		}
		f.CheckIDs, f.applies, f.versions = append(f.CheckIDs, c.ID), append(f.applies, on), append(f.versions, c.Version)
	}
	for n := len(f.CheckIDs) + 1; len(f.CheckIDs) < s.Checks; n++ {
		f.CheckIDs = append(f.CheckIDs, fmt.Sprintf("check_%02d", n))
		f.applies = append(f.applies, [len(osNames)]bool{true, true, true})
		f.versions = append(f.versions, 1)
	}
	return f, nil
}

// End is the period's exclusive end.
func (f *Fleet) End() time.Time { return Start.AddDate(0, 0, f.Days) }

// DeviceID is device n's id, as the SQL writes it.
func DeviceID(n int) string { return fmt.Sprintf("dev-%05d", n) }

// rowsByCheck gives each real check the rows its osquery SQL returns on a
// typical machine; synthetic checks reuse disk_encryption's. Small, as the
// issue asks, but with each check's own columns.
var rowsByCheck = map[string]string{
	"disk_encryption":    `[{"path":"/","encrypted":"1","compliant":"%s"}]`,
	"firewall":           `[{"enabled":"1","policy":"DROP","compliant":"%s"}]`,
	"macos_gatekeeper":   `[{"assessments_enabled":"1","compliant":"%s"}]`,
	"macos_sip":          `[{"config_flag":"sip","enabled":"1","compliant":"%s"}]`,
	"malware_protection": `[{"name":"defender","status":"running","compliant":"%s"}]`,
	"os_auto_updates":    `[{"installed":"1","enabled":"1","compliant":"%s"}]`,
	"os_patch_currency":  `[{"days_behind":"2","compliant":"%s"}]`,
	"screen_lock":        `[{"lock_enabled":"1","idle_delay_seconds":"300","compliant":"%s"}]`,
}

func (f *Fleet) rowsJSON(compliant string) []string {
	out := make([]string, len(f.CheckIDs))
	for i, id := range f.CheckIDs {
		tmpl, ok := rowsByCheck[id]
		if !ok {
			tmpl = rowsByCheck["disk_encryption"]
		}
		out[i] = fmt.Sprintf(tmpl, compliant)
	}
	return out
}

// sqlStrings is a ClickHouse array literal of strings.
func sqlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// appliesSQL is applies as a ClickHouse array of arrays of 0/1.
func (f *Fleet) appliesSQL() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, on := range f.applies {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('[')
		for j, v := range on {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Itoa(map[bool]int{false: 0, true: 1}[v]))
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return b.String()
}

// ControlChecks returns the fleet's checks that evidence control, as
// compliance.ChecksFor and extract.ChecksFor select them.
func (f *Fleet) ControlChecks(cat *queries.Catalog, control string) []string {
	var out []string
	for _, c := range cat.Checks {
		if slices.Contains(c.Criteria, control) && slices.Contains(f.CheckIDs, c.ID) {
			out = append(out, c.ID)
		}
	}
	return out
}
