package posture

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

// Write renders the report in format.
func (r Report) Write(w io.Writer, format string) error {
	return render.Write(w, format, "posture", r, r.writeTable, r.writeCSV)
}

func observed(e Entry) string {
	if e.ObservedAt == nil {
		return "-"
	}
	return e.ObservedAt.Format(time.RFC3339)
}

func (r Report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "Posture as of %s\n\n", r.At.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tDEVICE\tHOST\tSTATUS\tOBSERVED\tDETAIL")
	for _, e := range r.Entries {
		detail := e.Detail
		if detail == "" {
			detail = e.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", render.Cell(e.CheckID), render.Cell(e.DeviceID), render.Cell(e.Hostname), e.Status, observed(e), render.Truncate(render.Cell(detail), 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tDEVICES\tPASS\tFAIL\tERROR\tN/A\tUNKNOWN")
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s.CheckID, s.Devices, s.Pass, s.Fail, s.Error, s.NotApplicable, s.Unknown)
	}
	return tw.Flush()
}

func (r Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"check_id", "title", "device_id", "hostname", "os", "status", "observed_at", "stale", "reason", "detail"})
	for _, e := range r.Entries {
		obs := ""
		if e.ObservedAt != nil {
			obs = e.ObservedAt.Format(time.RFC3339)
		}
		_ = cw.Write([]string{e.CheckID, e.Title, e.DeviceID, e.Hostname, e.OS, e.Status, obs, strconv.FormatBool(e.Stale), e.Reason, e.Detail})
	}
	cw.Flush()
	return cw.Error()
}
