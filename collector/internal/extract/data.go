package extract

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

var evidenceHeader = []string{"device_id", "hostname", "check_id", "observed_at", "status", "reason", "error", "rows",
	"check_version", "pack", "pack_version", "engine", "agent_version", "duration_ms", "received_at"}

var dailyHeader = []string{"device_id", "hostname", "check_id", "day", "results", "pass", "fail", "error", "not_applicable",
	"first_observed_at", "last_observed_at", "last_status", "first_failure_at"}

// tally is what the results of one check on one device in the period say.
type tally struct {
	results, pass, fail, errs, na int
	firstFail, lastAt             time.Time
	lastStatus                    string
}

// writeDaily writes evidence_daily.csv, every (device, check, day) of the
// extract's checks with results in the period, population-wide, and
// tallies the period per device and check on the way.
func (w *writer) writeDaily(ctx context.Context, p *population) error {
	t, err := w.newTableIn(DailyFile, dailyHeader, w.dailyInWorkbook(p))
	if err != nil {
		return err
	}
	err = w.src.EachDay(ctx, w.checkIDs(), w.start, w.end, func(d store.DailyRow) error {
		w.seen(d.LastAt)
		k := DeviceCheck{d.DeviceID, d.CheckID}
		tl := w.tallies[k]
		if tl == nil {
			tl = &tally{}
			w.tallies[k] = tl
		}
		tl.results += int(d.Results())
		tl.pass += int(d.Pass)
		tl.fail += int(d.Fail)
		tl.errs += int(d.Error)
		tl.na += int(d.NA)
		if tl.firstFail.IsZero() {
			tl.firstFail = d.FirstFail
		}
		tl.lastStatus, tl.lastAt = d.LastStatus, d.LastAt // days come in order
		return t.add(d.DeviceID, w.hostnames[d.DeviceID], d.CheckID, d.Day.Format(time.DateOnly),
			strconv.FormatUint(d.Results(), 10), strconv.FormatUint(d.Pass, 10), strconv.FormatUint(d.Fail, 10),
			strconv.FormatUint(d.Error, 10), strconv.FormatUint(d.NA, 10), stamp(d.FirstAt), stamp(d.LastAt),
			d.LastStatus, stamp(d.FirstFail))
	})
	if err != nil {
		return err
	}
	w.files[DailyFile] = t.rows
	return t.close()
}

// dailyInWorkbook says whether evidence_daily goes in the workbook too:
// when it cannot outgrow one worksheet, judged from the population, its
// applicable checks and the period's days before a row is read, so the
// same inputs always decide the same way. A larger table is the CSV file
// alone: 10,000 devices' quarter of one control is 1.8M rows, more than
// Excel shows on a sheet, and writing them as worksheets took longer than
// the rest of the extract together.
func (w *writer) dailyInWorkbook(p *population) bool {
	days := int(w.end.Sub(w.start) / (24 * time.Hour))
	ids := w.checkIDs()
	bound := 0
	for _, m := range p.members {
		for _, c := range m.Checks {
			if slices.Contains(ids, c) {
				bound += days
			}
		}
	}
	w.dailyInBook = bound < maxSheetRows
	return w.dailyInBook
}

// writeEvidence streams into evidence.csv every result in the period of
// the extract's checks on the sampled devices, or on every device with
// Options.AllResults.
func (w *writer) writeEvidence(ctx context.Context, sample []string) error {
	t, err := w.newTable(EvidenceFile, evidenceHeader)
	if err != nil {
		return err
	}
	devices := slices.Sorted(slices.Values(sample))
	if devices == nil {
		devices = []string{}
	}
	if w.opts.AllResults {
		devices = nil
	}
	err = w.src.EachResult(ctx, w.checkIDs(), devices, w.start, w.end, func(r store.ResultRow) error {
		w.seen(r.ReceivedAt)
		return t.add(r.DeviceID, w.hostnames[r.DeviceID], r.CheckID, stamp(r.ObservedAt), r.Status, r.Reason, r.Error,
			r.Rows, strconv.FormatUint(uint64(r.CheckVersion), 10), r.Pack, r.PackVersion, r.Engine, r.AgentVersion,
			strconv.FormatUint(uint64(r.DurationMS), 10), stamp(r.ReceivedAt))
	})
	if err != nil {
		return err
	}
	w.files[EvidenceFile] = t.rows
	return t.close()
}

func (w *writer) checkIDs() []string {
	ids := make([]string, len(w.checks))
	for i, c := range w.checks {
		ids[i] = c.ID
	}
	return ids
}

// exceptionSet is the exceptions for the extract's checks that were in
// force at some time during the period, as known at its end.
type exceptionSet struct {
	records []store.ExceptionRecord
}

func (w *writer) loadExceptions(ctx context.Context) (*exceptionSet, error) {
	all, err := w.src.Exceptions(ctx, w.end.Add(-time.Second))
	if err != nil {
		return nil, err
	}
	set := &exceptionSet{}
	for _, r := range all {
		if !slices.ContainsFunc(w.checks, func(c queries.Check) bool { return c.ID == r.CheckID }) {
			continue
		}
		if _, ok := w.overlap(r); !ok {
			continue
		}
		set.records = append(set.records, r)
		w.seen(r.CreatedAt)
		if r.RevokedAt != nil {
			w.seen(*r.RevokedAt)
		}
	}
	return set, nil
}

// overlap returns the first instant of the period at which r was in
// force, if there was one.
func (w *writer) overlap(r store.ExceptionRecord) (time.Time, bool) {
	from := r.CreatedAt
	if from.Before(w.start) {
		from = w.start
	}
	until := r.Expires
	if r.RevokedAt != nil && r.RevokedAt.Before(until) {
		until = *r.RevokedAt
	}
	if until.After(w.end) {
		until = w.end
	}
	return from, from.Before(until)
}

// covering lists the ids of exceptions that applied to check on d at
// some time in the period.
func (w *writer) covering(set *exceptionSet, d store.Device, check string) []string {
	var ids []string
	for _, r := range set.records {
		if at, ok := w.overlap(r); ok && r.Applies(d, check, at) {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

var exceptionsHeader = []string{"id", "device_id", "tag", "check_id", "reason", "approved_by", "created_at", "expires",
	"revoked_at", "revoked_by", "status_at_period_end"}

func (w *writer) writeExceptions(set *exceptionSet) error {
	t, err := w.newTable(ExceptionsFile, exceptionsHeader)
	if err != nil {
		return err
	}
	for _, r := range set.records {
		revoked := ""
		if r.RevokedAt != nil {
			revoked = stamp(*r.RevokedAt)
		}
		if err := t.add(r.ID, r.DeviceID, r.Tag, r.CheckID, r.Reason, r.ApprovedBy, stamp(r.CreatedAt), stamp(r.Expires),
			revoked, r.RevokedBy, r.Status); err != nil {
			return err
		}
	}
	w.files[ExceptionsFile] = t.rows
	return t.close()
}

var gapsHeader = []string{"device_id", "hostname", "gap_from", "gap_to", "dropped_results", "reason"}

func (w *writer) writeGaps(ctx context.Context) error {
	gaps, err := w.src.Gaps(ctx, w.start, w.end)
	if err != nil {
		return err
	}
	t, err := w.newTable(GapsFile, gapsHeader)
	if err != nil {
		return err
	}
	for _, g := range gaps {
		if err := t.add(g.DeviceID, w.hostnames[g.DeviceID], stamp(g.From), stamp(g.To),
			strconv.FormatUint(uint64(g.Dropped), 10), g.Reason); err != nil {
			return err
		}
	}
	w.files[GapsFile] = t.rows
	return t.close()
}

var sampleHeader = []string{"draw", "device_id", "hostname", "os", "serial", "inventory_status", "applicable_checks", "results_in_period"}

func (w *writer) writeSample(p *population, ids []string) error {
	status := map[string]string{}
	for _, r := range p.rows {
		if r.dev != nil {
			status[r.dev.DeviceID] = r.status
		}
	}
	t, err := w.newTable(SampleFile, sampleHeader)
	if err != nil {
		return err
	}
	for i, id := range ids {
		m := p.members[id]
		n := 0
		for _, c := range m.Checks {
			if tl := w.tallies[DeviceCheck{id, c}]; tl != nil {
				n += tl.results
			}
		}
		if err := t.add(strconv.Itoa(i+1), id, m.Hostname, m.OS, m.Serial, status[id], strings.Join(m.Checks, " "),
			strconv.Itoa(n)); err != nil {
			return err
		}
	}
	w.files[SampleFile] = t.rows
	return t.close()
}

var complianceHeader = []string{"device_id", "hostname", "check_id", "applicable", "results", "pass", "fail", "error",
	"not_applicable", "pass_share", "first_failure_at", "last_status", "last_observed_at", "exceptions"}

// derivedMethod explains the derived compliance columns in the README.
const derivedMethod = "The columns up to exceptions are derived from evidence_daily.csv alone: per device and check, the number of results in the period and " +
	"per status; pass_share = pass / (pass + fail + error), with not_applicable results left out, empty when there " +
	"is none of those; first_failure_at is the first failing observation; last_status and last_observed_at are the " +
	"period's last result (\"no results\" when there was none: a device that should have reported and did not is " +
	"listed, never dropped); exceptions lists the ids of exceptions (exceptions.csv) that covered the pair at some " +
	"time in the period. Excepted pairs are not counted as passing."

// periodMethod introduces the compliance package's columns.
const periodMethod = "The columns from period_status on are the collector's period compliance, judged per UTC day " +
	"(compliant_day_share = compliant_days / (compliant + failing + error days)); days after generated_at are not " +
	"assessed while a period is still running. "

// writeCompliance writes one row per population device and applicable
// check, plus any other pair the evidence holds (a device whose OS
// changed, a device no longer enrolled), sorted by device and check: the
// figures derived from the evidence rows, then the compliance package's
// day-based ones (period, empty for a device outside the population).
func (w *writer) writeCompliance(p *population, set *exceptionSet, period map[DeviceCheck][]string) error {
	header := append(slices.Clone(complianceHeader), periodHeader...)
	pairs := map[DeviceCheck]bool{}
	for id, m := range p.members {
		for _, c := range m.Checks {
			pairs[DeviceCheck{id, c}] = true
		}
	}
	for k := range w.tallies {
		pairs[k] = true
	}
	keys := make([]DeviceCheck, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b DeviceCheck) int {
		if c := strings.Compare(a.DeviceID, b.DeviceID); c != 0 {
			return c
		}
		return strings.Compare(a.CheckID, b.CheckID)
	})
	t, err := w.newTable(ComplianceFile, header)
	if err != nil {
		return err
	}
	for _, k := range keys {
		applicable, excepted := "device not in population", ""
		if m := p.members[k.DeviceID]; m != nil {
			applicable = "no"
			if slices.Contains(m.Checks, k.CheckID) {
				applicable = "yes"
			}
			excepted = strings.Join(w.covering(set, m.Device, k.CheckID), " ")
		}
		tl := w.tallies[k]
		if tl == nil {
			tl = &tally{lastStatus: "no results"}
		}
		share := ""
		if n := tl.pass + tl.fail + tl.errs; n > 0 {
			share = strconv.FormatFloat(float64(tl.pass)/float64(n), 'f', 4, 64)
		}
		rec := []string{k.DeviceID, w.hostnames[k.DeviceID], k.CheckID, applicable, strconv.Itoa(tl.results),
			strconv.Itoa(tl.pass), strconv.Itoa(tl.fail), strconv.Itoa(tl.errs), strconv.Itoa(tl.na), share,
			stamp(tl.firstFail), tl.lastStatus, stamp(tl.lastAt), excepted}
		rec = append(rec, make([]string, len(periodHeader))...)
		copy(rec[len(complianceHeader):], period[k])
		if err := t.add(rec...); err != nil {
			return err
		}
	}
	w.files[ComplianceFile] = t.rows
	return t.close()
}
