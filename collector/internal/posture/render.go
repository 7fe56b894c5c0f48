package posture

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Formats Write accepts.
var Formats = []string{"table", "json", "csv"}

// Write renders the report in format.
func (r Report) Write(w io.Writer, format string) error {
	switch format {
	case "table", "":
		return r.writeTable(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return r.writeCSV(w)
	}
	return fmt.Errorf("posture: unknown format %q (want table, json or csv)", format)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(e.CheckID), cell(e.DeviceID), cell(e.Hostname), e.Status, observed(e), truncate(cell(detail), 80))
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

// cell keeps agent-supplied text (hostnames, osquery error messages) on
// one table cell: a tab or newline would shift or break the columns.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// truncate shortens s to at most n characters. It counts runes, as
// tabwriter does, and never cuts a multi-byte character in half.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
