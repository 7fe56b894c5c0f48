package posture

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// StatusUnknown is reported for a device that should have a result for a
// check but has none, or only one older than the staleness window. It is
// never counted as passing.
const StatusUnknown = "unknown"

// Entry is the posture of one check on one device.
type Entry struct {
	DeviceID   string     `json:"device_id"`
	Hostname   string     `json:"hostname"`
	OS         string     `json:"os"`
	CheckID    string     `json:"check_id"`
	Title      string     `json:"title"`
	Status     string     `json:"status"`
	ObservedAt *time.Time `json:"observed_at,omitempty"`
	Stale      bool       `json:"stale,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	// Detail names what made a check fail, from the rows it returned.
	Detail string `json:"detail,omitempty"`
}

// Summary counts devices per status for one check.
type Summary struct {
	CheckID       string `json:"check_id"`
	Title         string `json:"title"`
	Devices       int    `json:"devices"`
	Pass          int    `json:"pass"`
	Fail          int    `json:"fail"`
	Error         int    `json:"error"`
	NotApplicable int    `json:"not_applicable"`
	Unknown       int    `json:"unknown"`
}

// Report is the fleet's posture as of At.
type Report struct {
	At      time.Time `json:"at"`
	Entries []Entry   `json:"entries"`
	Summary []Summary `json:"summary"`
}

// Options tune Build.
type Options struct {
	// StaleAfter is how many check intervals may pass before a result no
	// longer counts; 3 when zero.
	StaleAfter int
}

// Build computes the report. Devices enrolled after at are left out; every
// other device gets one entry per check that applies to its OS.
//
// Entries are made in their output order, check then device, walking
// latest alongside (store.LatestResults returns it in that order; other
// input is sorted first): a map of a fleet's 200,000 latest results and a
// sort of the entries were most of Build's time.
func Build(at time.Time, devices []store.Device, latest []store.Latest, cat *queries.Catalog, o Options) Report {
	if o.StaleAfter <= 0 {
		o.StaleAfter = 3
	}
	byCheck := func(a, b store.Latest) int {
		return cmp.Or(strings.Compare(a.CheckID, b.CheckID), strings.Compare(a.DeviceID, b.DeviceID))
	}
	if !slices.IsSortedFunc(latest, byCheck) {
		latest = slices.Clone(latest)
		slices.SortFunc(latest, byCheck)
	}
	var devs []store.Device
	for _, d := range devices {
		if !d.EnrolledAt.After(at) {
			devs = append(devs, d)
		}
	}
	slices.SortFunc(devs, func(a, b store.Device) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	// The checks that apply to each OS, by id, and every id in order.
	forOS := map[string]map[string]queries.Check{}
	var ids []string
	for _, d := range devs {
		if _, ok := forOS[d.OS]; ok {
			continue
		}
		m := map[string]queries.Check{}
		for _, c := range cat.ForPlatform(d.OS) {
			m[c.ID] = c
			if !slices.Contains(ids, c.ID) {
				ids = append(ids, c.ID)
			}
		}
		forOS[d.OS] = m
	}
	slices.Sort(ids)
	// Empty, not nil: a fleet with nothing to report encodes as [] in JSON,
	// which clients can iterate, rather than null.
	rep := Report{At: at.UTC(), Entries: make([]Entry, 0, len(latest)), Summary: []Summary{}}
	li := 0
	for _, id := range ids {
		var sum *Summary
		for _, d := range devs {
			c, ok := forOS[d.OS][id]
			if !ok {
				continue
			}
			for li < len(latest) && byCheck(latest[li], store.Latest{CheckID: id, DeviceID: d.DeviceID}) < 0 {
				li++
			}
			e := Entry{DeviceID: d.DeviceID, Hostname: d.Hostname, OS: d.OS, CheckID: c.ID, Title: c.Title, Status: StatusUnknown}
			if li < len(latest) && latest[li].CheckID == id && latest[li].DeviceID == d.DeviceID {
				l := &latest[li]
				obs := l.ObservedAt.UTC()
				e.ObservedAt = &obs
				window := time.Duration(o.StaleAfter) * c.Interval
				if at.Sub(obs) > window {
					e.Stale = true
					e.Reason = fmt.Sprintf("last result (%s, %s) is older than %s", l.Status, obs.Format(time.RFC3339), window)
				} else {
					e.Status, e.Reason = l.Status, l.Reason
					if l.Error != "" {
						e.Reason = l.Error
					}
					if l.Status == "fail" {
						e.Detail = failingDetail(l.Rows)
					}
				}
			} else {
				e.Reason = "no result reported"
			}
			rep.Entries = append(rep.Entries, e)
			if sum == nil {
				sum = &Summary{CheckID: c.ID, Title: c.Title}
			}
			sum.add(e.Status)
		}
		if sum != nil {
			rep.Summary = append(rep.Summary, *sum)
		}
	}
	return rep
}

func (s *Summary) add(status string) {
	s.Devices++
	switch status {
	case "pass":
		s.Pass++
	case "fail":
		s.Fail++
	case "error":
		s.Error++
	case "not_applicable":
		s.NotApplicable++
	default:
		s.Unknown++
	}
}

// failingDetail renders the rows whose compliant column is not "1" as
// "k=v k=v; k=v", the offending detail a security team acts on.
func failingDetail(rowsJSON string) string {
	var rows []map[string]string
	if err := json.Unmarshal([]byte(rowsJSON), &rows); err != nil {
		return ""
	}
	var parts []string
	for _, r := range rows {
		if r["compliant"] == "1" {
			continue
		}
		keys := make([]string, 0, len(r))
		for k := range r {
			if k != "compliant" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		kv := make([]string, 0, len(keys))
		for _, k := range keys {
			kv = append(kv, k+"="+r[k])
		}
		parts = append(parts, strings.Join(kv, " "))
	}
	return strings.Join(parts, "; ")
}
