package inventory

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/render"
)

// Formats Write accepts.
var Formats = render.Formats

// Write renders the reconciliation in format.
func (r Reconciliation) Write(w io.Writer, format string) error {
	return render.Write(w, format, "inventory", r, r.writeTable, r.writeCSV)
}

func (r Reconciliation) writeTable(w io.Writer) error {
	if !r.At.IsZero() {
		fmt.Fprintf(w, "Inventory reconciliation as of %s\n", r.At.Format(time.RFC3339))
	}
	if sn := r.Snapshot; sn != nil {
		fmt.Fprintf(w, "Snapshot %s: %s, imported %s by %s, %d rows (%d skipped without a serial), sha256 %s\n",
			sn.ID, render.Cell(sn.Source), sn.ImportedAt.Format(time.RFC3339), render.Cell(sn.ImportedBy), sn.Rows, sn.SkippedRows, sn.FileSHA256)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tMATCHED BY\tLINE\tSERIAL\tHOSTNAME\tOWNER\tDEVICE\tDEVICE SERIAL\tDEVICE HOSTNAME\tNOTE")
	for _, row := range r.Rows {
		by := render.Dash(string(row.MatchedBy))
		if row.Weak {
			by += " (weak)"
		}
		line := "-"
		if row.Line > 0 {
			line = strconv.Itoa(row.Line)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Status, by, line, render.Dash(row.Serial), render.Dash(row.Hostname),
			render.Dash(row.Owner), render.Dash(row.DeviceID), render.Dash(row.DeviceSerial), render.Dash(row.DeviceHostname), render.Cell(row.Note))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := r.Summary
	fmt.Fprintf(w, "\nIn scope %d: matched %d (%d weak, by hostname only), missing %d; coverage %.1f%%.\n",
		s.InScope, s.Matched, s.WeakMatches, s.Missing, s.Coverage)
	_, err := fmt.Fprintf(w, "Enrolled devices %d: unknown to the inventory %d. Out-of-scope inventory rows %d.\n",
		s.Devices, s.Unknown, s.OutOfScope)
	return err
}

func (r Reconciliation) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"status", "matched_by", "weak", "line", "serial", "hostname", "owner", "platform",
		"device_id", "device_serial", "device_hostname", "note"})
	for _, row := range r.Rows {
		line := ""
		if row.Line > 0 {
			line = strconv.Itoa(row.Line)
		}
		_ = cw.Write([]string{string(row.Status), string(row.MatchedBy), strconv.FormatBool(row.Weak), line, row.Serial,
			row.Hostname, row.Owner, row.Platform, row.DeviceID, row.DeviceSerial, row.DeviceHostname, row.Note})
	}
	cw.Flush()
	return cw.Error()
}
