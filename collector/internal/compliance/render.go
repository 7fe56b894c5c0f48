package compliance

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/render"
)

// Formats the Write methods accept.
var Formats = render.Formats

// Write renders the report. CSV is one row per device (the population an
// auditor samples from); WriteTrendCSV gives the daily trend.
func (r Report) Write(w io.Writer, format string) error {
	return render.Write(w, format, "compliance", r, r.writeTable, r.writeCSV)
}

func (r Report) scope() string {
	if r.Control != "" {
		return fmt.Sprintf("control %s (%s)", r.Control, strings.Join(r.Checks, ", "))
	}
	return "check " + strings.Join(r.Checks, ", ")
}

func (r Report) writeTable(w io.Writer) error {
	f := r.Fleet
	fmt.Fprintf(w, "Compliance of %s, %s to %s (%d days assessed)\n\n", r.scope(),
		r.From.Format(time.DateOnly), r.To.Add(-time.Second).Format(time.DateOnly), r.Days)
	fmt.Fprintf(w, "Devices %d: compliant %d, excepted %d, partial %d, never %d, no evidence %d, not applicable %d\n",
		f.Devices, f.Compliant, f.Excepted, f.Partial, f.Never, f.NoEvidence, f.NotApplicable)
	fmt.Fprintf(w, "Device-days %d: compliant %d, failing %d, error %d, no evidence %d, excepted %d, not applicable %d; share %s\n",
		f.DeviceDays.Days, f.DeviceDays.Compliant, f.DeviceDays.Failing, f.DeviceDays.Error, f.DeviceDays.NoEvidence,
		f.DeviceDays.Excepted, f.DeviceDays.NotApplicable, share(f.DeviceDays.Share))
	fmt.Fprintf(w, "Failures: %d devices failed, %d remediated, median time to remediate %s\n\n",
		f.Failed, f.Remediated, seconds(f.MedianRemediationSeconds))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tHOST\tSTATUS\tSHARE\tDAYS\tOK\tFAIL\tERR\tNO-EVID\tEXCEPT\tN/A\tFIRST FAILURE\tCHECK\tREMEDIATED\tTOOK")
	for _, d := range r.Devices {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", render.Cell(d.DeviceID), render.Cell(d.Hostname),
			d.Status, share(d.Share), d.Days, d.Compliant, d.Failing, d.Error, d.NoEvidence, d.Excepted, d.NotApplicable,
			stamp(d.FirstFailure), render.Dash(d.FailedCheck), stamp(d.RemediatedAt), seconds(d.RemediationSeconds))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tDEVICES\tPASSING\tFAILING\tUNKNOWN\tEXCEPTED\tN/A")
	for _, d := range r.Trend {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", d.Day, d.Devices, d.Passing, d.Failing, d.Unknown, d.Excepted, d.NotApplicable)
	}
	return tw.Flush()
}

func (r Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"device_id", "hostname", "os", "status", "share", "days", "compliant_days", "failing_days",
		"error_days", "no_evidence_days", "excepted_days", "not_applicable_days", "first_failure", "failed_check",
		"remediated_at", "remediation_s"})
	for _, d := range r.Devices {
		sh := ""
		if d.Share != nil {
			sh = strconv.FormatFloat(*d.Share, 'f', 4, 64)
		}
		rem := ""
		if d.RemediationSeconds != nil {
			rem = strconv.FormatInt(*d.RemediationSeconds, 10)
		}
		_ = cw.Write([]string{d.DeviceID, d.Hostname, d.OS, d.Status, sh, itoa(d.Days), itoa(d.Compliant), itoa(d.Failing),
			itoa(d.Error), itoa(d.NoEvidence), itoa(d.Excepted), itoa(d.NotApplicable), rfc3339(d.FirstFailure), d.FailedCheck,
			rfc3339(d.RemediatedAt), rem})
	}
	cw.Flush()
	return cw.Error()
}

// WriteTrendCSV writes the daily trend, one row per day.
func (r Report) WriteTrendCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"day", "devices", "passing", "failing", "unknown", "excepted", "not_applicable"})
	for _, d := range r.Trend {
		_ = cw.Write([]string{d.Day, itoa(d.Devices), itoa(d.Passing), itoa(d.Failing), itoa(d.Unknown), itoa(d.Excepted), itoa(d.NotApplicable)})
	}
	cw.Flush()
	return cw.Error()
}

// Write renders the stale report. CSV is one row per stale device.
func (r StaleReport) Write(w io.Writer, format string) error {
	return render.Write(w, format, "compliance", r, r.writeTable, r.writeCSV)
}

func (r StaleReport) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "Stale devices as of %s (window %s): %d of %d\n\n", r.At.Format(time.RFC3339),
		time.Duration(r.WindowSeconds)*time.Second, len(r.Stale), r.Devices)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tHOST\tOS\tREASON\tLAST SEEN\tLAST HEARTBEAT\tLAST RESULT\tSILENT")
	for _, d := range r.Stale {
		silent := d.SilentSeconds
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", render.Cell(d.DeviceID), render.Cell(d.Hostname), render.Cell(d.OS), d.Reason,
			stamp(d.LastSeen), stamp(d.LastHeartbeat), stamp(d.LastResult), seconds(&silent))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nSpool gaps reported for %s to %s: %d\n\n", r.GapsFrom.Format(time.RFC3339), r.GapsTo.Format(time.RFC3339), len(r.Gaps))
	if len(r.Gaps) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tFROM\tTO\tDROPPED\tREASON")
	for _, g := range r.Gaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", render.Cell(g.DeviceID), g.From.Format(time.RFC3339), g.To.Format(time.RFC3339), g.Dropped, render.Cell(g.Reason))
	}
	return tw.Flush()
}

func (r StaleReport) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"device_id", "hostname", "os", "reason", "last_seen", "last_heartbeat", "last_result", "silent_s"})
	for _, d := range r.Stale {
		_ = cw.Write([]string{d.DeviceID, d.Hostname, d.OS, d.Reason, rfc3339(d.LastSeen), rfc3339(d.LastHeartbeat),
			rfc3339(d.LastResult), strconv.FormatInt(d.SilentSeconds, 10)})
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int) string { return strconv.Itoa(n) }

func share(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p*100, 'f', 1, 64) + "%"
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func rfc3339(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// seconds renders a duration in seconds as 3d4h, 5h20m, 12m or 40s.
func seconds(p *int64) string {
	if p == nil {
		return "-"
	}
	d := time.Duration(*p) * time.Second
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", *p)
}
