package compliance

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// Device statuses over a period, from best to worst evidence.
const (
	StatusCompliant     = "compliant"      // every in-scope day compliant
	StatusExcepted      = "excepted"       // no bad day, but some days only by exception
	StatusPartial       = "partial"        // some compliant days, some not
	StatusNever         = "never"          // assessed, never compliant
	StatusNoEvidence    = "no_evidence"    // nothing assessed, days without evidence
	StatusNotApplicable = "not_applicable" // the checks report not_applicable throughout
)

// Method states the definition in words; reports carry it so a reader of
// the JSON or an auditor sees the rule the numbers follow.
const Method = "Days are UTC calendar days. A device is in scope from the day it enrolled (or its first evidence, " +
	"if earlier) to the day it was revoked, and for the checks that apply to its OS. A check's day is compliant " +
	"when that day's last result passed and no result failed; failing when any result failed; error when it ended " +
	"in error; not applicable when it ended not_applicable; no evidence when nothing was observed; excepted when " +
	"approved exceptions cover the whole day. For a control, a device's day takes the worst of its checks: failing, " +
	"error, no evidence, excepted, compliant, not applicable. Share = compliant days / (compliant + failing + error " +
	"days): excepted, not-applicable and no-evidence days are counted separately and never as compliant. " +
	"First failure is the first failing result in the period; remediated is the first passing result of the same " +
	"check after it."

// Report is period compliance for a check or a control.
type Report struct {
	CheckID string    `json:"check_id,omitempty"`
	Control string    `json:"control,omitempty"`
	Checks  []string  `json:"checks"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"` // exclusive; From and To are UTC midnights
	// Days counts the days assessed: to To, or to Input.Now while the
	// period is still running.
	Days    int      `json:"days"`
	Method  string   `json:"method"`
	Fleet   Fleet    `json:"fleet"`
	Devices []Device `json:"devices"`
	Trend   []Day    `json:"trend"`
}

// Device is one device's compliance over the period.
type Device struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Status   string `json:"status"`
	Tally
	FirstFailure *time.Time `json:"first_failure,omitempty"`
	FailedCheck  string     `json:"failed_check,omitempty"`
	RemediatedAt *time.Time `json:"remediated_at,omitempty"`
	// RemediationSeconds is RemediatedAt - FirstFailure.
	RemediationSeconds *int64 `json:"remediation_s,omitempty"`
}

// Tally counts days by verdict.
type Tally struct {
	Days          int `json:"days"` // in scope
	Compliant     int `json:"compliant_days"`
	Failing       int `json:"failing_days"`
	Error         int `json:"error_days"`
	NoEvidence    int `json:"no_evidence_days"`
	Excepted      int `json:"excepted_days"`
	NotApplicable int `json:"not_applicable_days"`
	// Share is Compliant / (Compliant + Failing + Error); null when no
	// day was assessed.
	Share *float64 `json:"share"`
}

// Fleet totals devices by status and device-days by verdict.
type Fleet struct {
	Devices       int `json:"devices"`
	Compliant     int `json:"compliant"`
	Partial       int `json:"partial"`
	Never         int `json:"never"`
	Excepted      int `json:"excepted"`
	NoEvidence    int `json:"no_evidence"`
	NotApplicable int `json:"not_applicable"`
	// DeviceDays sums the devices' tallies.
	DeviceDays Tally `json:"device_days"`
	// Failed devices had a failure in the period; Remediated of them
	// passed again; MedianRemediationSeconds is over those.
	Failed                   int    `json:"failed"`
	Remediated               int    `json:"remediated"`
	MedianRemediationSeconds *int64 `json:"median_remediation_s,omitempty"`
}

// Day is the fleet on one day: in-scope devices by their day's verdict.
type Day struct {
	Day           string `json:"day"` // 2006-01-02
	Devices       int    `json:"devices"`
	Passing       int    `json:"passing"`
	Failing       int    `json:"failing"`
	Unknown       int    `json:"unknown"` // error or no evidence
	Excepted      int    `json:"excepted"`
	NotApplicable int    `json:"not_applicable"`
}

// Input is everything Build needs; the store and catalog provide it.
type Input struct {
	CheckID, Control string // labels for the report
	// From and To bound the period [From, To), widened to whole UTC days.
	From, To time.Time
	// Now ends the period early: days starting at or after it have not
	// happened, so they are not "no evidence". Zero means no cap.
	Now         time.Time
	Checks      []queries.Check
	Devices     []store.Device
	Revocations []store.Revocation
	Exceptions  []store.Exception
	// Days is the rollup of Checks over the period (store.ComplianceDays).
	Days []store.CheckDays
}

// day verdicts after exceptions, ordered worst first so combining the
// checks of a control is a min.
type verdict int

const (
	vFailing verdict = iota
	vError
	vNoEvidence
	vExcepted
	vCompliant
	vNotApplicable
	vOutOfScope
)

func fromStore(v store.Verdict) verdict {
	switch v {
	case store.DayPass:
		return vCompliant
	case store.DayFail:
		return vFailing
	case store.DayError:
		return vError
	case store.DayNotApplicable:
		return vNotApplicable
	}
	return vNoEvidence
}

const day = 24 * time.Hour

// Build computes the report. It is pure: the same input gives the same
// report, so its rules are table-tested without a database.
func Build(in Input) Report {
	start, n := store.DayRange(in.From, in.To)
	end := start.AddDate(0, 0, n)
	if !in.Now.IsZero() {
		if due := int(max(in.Now.Sub(start), 0) / day); in.Now.After(start.AddDate(0, 0, due)) {
			n = min(n, due+1)
		} else {
			n = min(n, due)
		}
	}
	rep := Report{
		CheckID: in.CheckID, Control: in.Control, Checks: []string{},
		From: start, To: end, Days: n, Method: Method,
		Devices: []Device{}, Trend: make([]Day, n),
	}
	for i := range rep.Trend {
		rep.Trend[i].Day = start.AddDate(0, 0, i).Format(time.DateOnly)
	}
	for _, c := range in.Checks {
		rep.Checks = append(rep.Checks, c.ID)
	}
	type key struct{ dev, check string }
	byKey := make(map[key]*store.CheckDays, len(in.Days))
	for i := range in.Days {
		byKey[key{in.Days[i].DeviceID, in.Days[i].CheckID}] = &in.Days[i]
	}
	revoked := map[string]time.Time{}
	for _, r := range in.Revocations {
		if at, ok := revoked[r.DeviceID]; !ok || r.RevokedAt.Before(at) {
			revoked[r.DeviceID] = r.RevokedAt
		}
	}
	var remediation []int64
	combined := make([]verdict, n)
	for _, d := range in.Devices {
		var checks []queries.Check
		for _, c := range in.Checks {
			if _, ok := c.On(d.OS); ok {
				checks = append(checks, c)
			}
		}
		if len(checks) == 0 || n == 0 {
			continue
		}
		// Scope: from enrollment, or earlier evidence, to revocation.
		first := dayIndex(start, d.EnrolledAt)
		for _, c := range checks {
			if cd := byKey[key{d.DeviceID, c.ID}]; cd != nil {
				if i := slices.IndexFunc(cd.Days, func(v store.Verdict) bool { return v != store.NoEvidence }); i >= 0 {
					first = min(first, i)
				}
			}
		}
		last := n - 1
		if at, ok := revoked[d.DeviceID]; ok {
			last = min(last, dayIndex(start, at))
		}
		first = max(first, 0)
		if first > last {
			continue
		}
		for i := range combined {
			combined[i] = vOutOfScope
			if i >= first && i <= last {
				combined[i] = vNotApplicable
			}
		}
		dev := Device{DeviceID: d.DeviceID, Hostname: d.Hostname, OS: d.OS}
		for _, c := range checks {
			cd := byKey[key{d.DeviceID, c.ID}]
			cover := exceptionCover(in.Exceptions, d, c.ID)
			for i := first; i <= last; i++ {
				v := vNoEvidence
				if cd != nil && i < len(cd.Days) {
					v = fromStore(cd.Days[i])
				}
				if len(cover.es) > 0 && cover.whole(start.Add(time.Duration(i)*day), start.Add(time.Duration(i+1)*day)) {
					v = vExcepted
				}
				combined[i] = min(combined[i], v)
			}
			if cd != nil && !cd.FirstFailure.IsZero() && (dev.FirstFailure == nil || cd.FirstFailure.Before(*dev.FirstFailure)) {
				ff := cd.FirstFailure
				dev.FirstFailure, dev.FailedCheck, dev.RemediatedAt, dev.RemediationSeconds = &ff, c.ID, nil, nil
				if !cd.RemediatedAt.IsZero() {
					rem := cd.RemediatedAt
					secs := int64(rem.Sub(ff) / time.Second)
					dev.RemediatedAt, dev.RemediationSeconds = &rem, &secs
				}
			}
		}
		for i := first; i <= last; i++ {
			dev.Tally.add(combined[i])
			rep.Trend[i].add(combined[i])
		}
		dev.Tally.finish()
		dev.Status = status(dev.Tally)
		rep.Fleet.add(dev)
		if dev.RemediationSeconds != nil {
			remediation = append(remediation, *dev.RemediationSeconds)
		}
		rep.Devices = append(rep.Devices, dev)
	}
	rep.Fleet.DeviceDays.finish()
	if len(remediation) > 0 {
		slices.Sort(remediation)
		m := remediation[(len(remediation)-1)/2]
		rep.Fleet.MedianRemediationSeconds = &m
	}
	sort.Slice(rep.Devices, func(i, j int) bool { return rep.Devices[i].DeviceID < rep.Devices[j].DeviceID })
	return rep
}

// dayIndex is the index of t's UTC day counted from start.
func dayIndex(start, t time.Time) int {
	d := t.Sub(start)
	i := int(d / day)
	if d < 0 && d%day != 0 {
		i--
	}
	return i
}

func (t *Tally) add(v verdict) {
	t.Days++
	switch v {
	case vCompliant:
		t.Compliant++
	case vFailing:
		t.Failing++
	case vError:
		t.Error++
	case vNoEvidence:
		t.NoEvidence++
	case vExcepted:
		t.Excepted++
	case vNotApplicable:
		t.NotApplicable++
	}
}

func (t *Tally) finish() {
	if assessed := t.Compliant + t.Failing + t.Error; assessed > 0 {
		s := float64(t.Compliant) / float64(assessed)
		t.Share = &s
	}
}

func (d *Day) add(v verdict) {
	d.Devices++
	switch v {
	case vCompliant:
		d.Passing++
	case vFailing:
		d.Failing++
	case vError, vNoEvidence:
		d.Unknown++
	case vExcepted:
		d.Excepted++
	case vNotApplicable:
		d.NotApplicable++
	}
}

// status classifies a device's period; see the Status constants.
func status(t Tally) string {
	bad := t.Failing + t.Error + t.NoEvidence
	switch {
	case bad == 0 && t.Excepted > 0:
		return StatusExcepted
	case bad == 0 && t.Compliant > 0:
		return StatusCompliant
	case bad == 0:
		return StatusNotApplicable
	case t.Compliant > 0:
		return StatusPartial
	case t.Failing+t.Error > 0:
		return StatusNever
	}
	return StatusNoEvidence
}

func (f *Fleet) add(d Device) {
	f.Devices++
	switch d.Status {
	case StatusCompliant:
		f.Compliant++
	case StatusPartial:
		f.Partial++
	case StatusNever:
		f.Never++
	case StatusExcepted:
		f.Excepted++
	case StatusNoEvidence:
		f.NoEvidence++
	case StatusNotApplicable:
		f.NotApplicable++
	}
	t := &f.DeviceDays
	t.Days += d.Days
	t.Compliant += d.Compliant
	t.Failing += d.Failing
	t.Error += d.Error
	t.NoEvidence += d.NoEvidence
	t.Excepted += d.Excepted
	t.NotApplicable += d.NotApplicable
	if d.FirstFailure != nil {
		f.Failed++
		if d.RemediatedAt != nil {
			f.Remediated++
		}
	}
}

// cover is the exceptions that can apply to one check on one device.
type cover struct {
	d     store.Device
	check string
	es    []store.Exception
}

// exceptionCover keeps the exceptions that ever apply to check on d: each
// is a single interval [CreatedAt, min(Expires, RevokedAt)), so one that
// does not apply at its own start never applies.
func exceptionCover(all []store.Exception, d store.Device, check string) cover {
	c := cover{d: d, check: check}
	for _, e := range all {
		if e.Applies(d, check, e.CreatedAt) {
			c.es = append(c.es, e)
		}
	}
	return c
}

// whole reports whether exceptions cover every instant of [from, to),
// possibly one after another: an exception granted or ending mid-day
// leaves the rest of that day judged by its results.
func (c cover) whole(from, to time.Time) bool {
	if len(c.es) == 0 {
		return false
	}
	t := from
	for t.Before(to) {
		next := t
		for _, e := range c.es {
			if e.Applies(c.d, c.check, t) {
				end := e.Expires
				if !e.RevokedAt.IsZero() && e.RevokedAt.Before(end) {
					end = e.RevokedAt
				}
				if end.After(next) {
					next = end
				}
			}
		}
		if !next.After(t) {
			return false
		}
		t = next
	}
	return true
}

// ChecksFor selects the checks of a report: one check by id, or every
// check whose criteria include control.
func ChecksFor(cat *queries.Catalog, checkID, control string) ([]queries.Check, error) {
	switch {
	case (checkID == "") == (control == ""):
		return nil, fmt.Errorf("compliance: want a check or a control, not both or neither")
	case checkID != "":
		c, ok := cat.Check(checkID)
		if !ok {
			return nil, fmt.Errorf("compliance: no check %q in pack %s %s", checkID, cat.Pack.Name, cat.Pack.Version)
		}
		return []queries.Check{c}, nil
	}
	var out []queries.Check
	for _, c := range cat.Checks {
		if slices.Contains(c.Criteria, control) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("compliance: no check in pack %s %s evidences %q", cat.Pack.Name, cat.Pack.Version, control)
	}
	return out, nil
}
