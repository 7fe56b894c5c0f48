package extract

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// periodHeader are the columns compliance.csv takes from the compliance
// package: its day-based verdicts, the measure the security team's
// reports and the API use, next to the per-result figures derived here.
var periodHeader = []string{"period_status", "days_in_scope", "compliant_days", "failing_days", "error_days",
	"no_evidence_days", "excepted_days", "not_applicable_days", "compliant_day_share", "remediated_at"}

// periodCompliance runs compliance.Build once per check, over the
// population's devices and the exceptions listed in the bundle, and once
// per control for the README's fleet summary. now caps a period that has
// not ended: days after it have not happened and are not counted as
// without evidence.
func (w *writer) periodCompliance(ctx context.Context, p *population, set *exceptionSet, now time.Time) (map[DeviceCheck][]string, []controlSummary, error) {
	days, err := w.src.ComplianceDays(ctx, w.checkIDs(), w.start, w.end)
	if err != nil {
		return nil, nil, fmt.Errorf("extract: compliance: %w", err)
	}
	var devices []store.Device
	var revs []store.Revocation
	for _, id := range sortedKeys(p.members) {
		m := p.members[id]
		devices = append(devices, m.Device)
		if !m.RevokedAt.IsZero() {
			revs = append(revs, store.Revocation{DeviceID: id, RevokedAt: m.RevokedAt})
		}
	}
	excs := make([]store.Exception, len(set.records))
	for i, r := range set.records {
		excs[i] = r.Exception()
	}
	in := compliance.Input{From: w.start, To: w.end, Now: now, Devices: devices, Revocations: revs, Exceptions: excs, Days: days}
	out := map[DeviceCheck][]string{}
	for _, c := range w.checks {
		in.CheckID, in.Control, in.Checks = c.ID, "", []queries.Check{c}
		for _, d := range compliance.Build(in).Devices {
			share := ""
			if d.Share != nil {
				share = strconv.FormatFloat(*d.Share, 'f', 4, 64)
			}
			remediated := ""
			if d.RemediatedAt != nil {
				remediated = stamp(*d.RemediatedAt)
			}
			out[DeviceCheck{d.DeviceID, c.ID}] = []string{d.Status, strconv.Itoa(d.Days), strconv.Itoa(d.Compliant),
				strconv.Itoa(d.Failing), strconv.Itoa(d.Error), strconv.Itoa(d.NoEvidence), strconv.Itoa(d.Excepted),
				strconv.Itoa(d.NotApplicable), share, remediated}
		}
	}
	var summary []controlSummary
	for _, ctl := range w.opts.Controls {
		in.CheckID, in.Control, in.Checks = "", ctl, nil
		for _, c := range w.checks {
			if slices.Contains(c.Criteria, ctl) {
				in.Checks = append(in.Checks, c)
			}
		}
		rep := compliance.Build(in)
		summary = append(summary, controlSummary{Control: ctl, Days: rep.Days, Fleet: rep.Fleet})
	}
	return out, summary, nil
}

// controlSummary is one control's fleet figures for the README.
type controlSummary struct {
	Control string
	Days    int
	Fleet   compliance.Fleet
}
