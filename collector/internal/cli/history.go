package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func init() {
	register(command{name: "history", order: 11, run: runHistory,
		summary: "history -device ID [-check ID] [-from T] [-to T] [-daily] [-format table|json|csv]   status changes of a device, with the evidence of each"})
}

// historyReport is what `history -format json` prints.
type historyReport struct {
	DeviceID string               `json:"device_id"`
	CheckID  string               `json:"check_id,omitempty"`
	From     *time.Time           `json:"from,omitempty"`
	To       time.Time            `json:"to"`
	Entries  []store.HistoryEntry `json:"entries,omitempty"`
	Daily    []store.DailyCounts  `json:"daily,omitempty"`
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var device, check, from, to, format string
	var daily bool
	cfg, _, err := loadConfig("history", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&device, "device", "", "device id")
		fs.StringVar(&check, "check", "", "one check id (default: every check)")
		fs.StringVar(&from, "from", "", "start: a date (its start, UTC) or RFC 3339 (default: the first result)")
		fs.StringVar(&to, "to", "", "end: a date (included) or RFC 3339 (excluded) (default: now)")
		fs.BoolVar(&daily, "daily", false, "per-day counts from the daily rollup instead of status changes")
		fs.StringVar(&format, "format", "table", "output format: "+strings.Join(compliance.Formats, ", "))
	})
	if err != nil {
		return err
	}
	if device == "" {
		return errors.New("history: -device is required")
	}
	rep := historyReport{DeviceID: device, CheckID: check, To: time.Now().UTC().Truncate(time.Second)}
	var start time.Time
	if from != "" {
		if start, err = parsePeriodStart(from); err != nil {
			return fmt.Errorf("history: -from: %w", err)
		}
		rep.From = &start
	}
	if to != "" {
		if rep.To, err = parsePeriodEnd(to); err != nil {
			return fmt.Errorf("history: -to: %w", err)
		}
	}
	if !slices.Contains(compliance.Formats, format) {
		return fmt.Errorf("history: -format %q: want one of %s", format, strings.Join(compliance.Formats, ", "))
	}
	if daily && start.IsZero() {
		// The rollup is read day by day; an open start would be every day
		// since 1970.
		return errors.New("history: -daily needs -from")
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer st.Close()
	if _, err := st.Device(ctx, device); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if daily {
		if rep.Daily, err = st.Daily(ctx, device, check, start, rep.To); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	} else if rep.Entries, err = st.History(ctx, device, check, start, rep.To); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	switch format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		if daily {
			return writeDailyCSV(stdout, rep.Daily)
		}
		return writeHistoryCSV(stdout, rep.Entries)
	}
	if daily {
		return writeDailyTable(stdout, rep)
	}
	return writeHistoryTable(stdout, rep)
}

func writeHistoryTable(w io.Writer, rep historyReport) error {
	since := "the first result"
	if rep.From != nil {
		since = rep.From.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "History of %s from %s to %s: %d status changes\n\n", rep.DeviceID, since, rep.To.Format(time.RFC3339), len(rep.Entries))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tEND\tCHECK\tCHANGE\tRESULTS\tDETAIL")
	for _, e := range rep.Entries {
		prev := e.Previous
		switch {
		case e.Continued:
			prev = "(continued)"
		case prev == "":
			prev = "(first)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s -> %s\t%d\t%s\n", e.Start.UTC().Format(time.RFC3339), e.End.UTC().Format(time.RFC3339),
			oneCell(e.CheckID), prev, e.Status, e.Observations, clip(oneCell(entryDetail(e)), 100))
	}
	return tw.Flush()
}

func writeHistoryCSV(w io.Writer, es []store.HistoryEntry) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"device_id", "check_id", "previous", "continued", "status", "start", "end", "observations", "reason", "error", "rows"})
	for _, e := range es {
		_ = cw.Write([]string{e.DeviceID, e.CheckID, e.Previous, strconv.FormatBool(e.Continued), e.Status,
			e.Start.UTC().Format(time.RFC3339Nano), e.End.UTC().Format(time.RFC3339Nano), strconv.Itoa(e.Observations),
			e.Reason, e.Error, string(e.Rows)})
	}
	cw.Flush()
	return cw.Error()
}

func writeDailyTable(w io.Writer, rep historyReport) error {
	fmt.Fprintf(w, "Daily results of %s from %s to %s\n\n", rep.DeviceID, rep.From.Format(time.DateOnly), rep.To.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tCHECK\tPASS\tFAIL\tERROR\tN/A\tFIRST\tLAST\tLAST STATUS")
	for _, d := range rep.Daily {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", d.Day.Format(time.DateOnly), oneCell(d.CheckID), d.Pass, d.Fail,
			d.Error, d.NotApplicable, d.First.Format("15:04:05"), d.Last.Format("15:04:05"), d.LastStatus)
	}
	return tw.Flush()
}

func writeDailyCSV(w io.Writer, ds []store.DailyCounts) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"device_id", "check_id", "day", "pass", "fail", "error", "not_applicable", "first", "last", "last_status"})
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, d := range ds {
		_ = cw.Write([]string{d.DeviceID, d.CheckID, d.Day.Format(time.DateOnly), u(d.Pass), u(d.Fail), u(d.Error), u(d.NotApplicable),
			d.First.Format(time.RFC3339Nano), d.Last.Format(time.RFC3339Nano), d.LastStatus})
	}
	cw.Flush()
	return cw.Error()
}

// entryDetail is what a reader acts on: the rows that are not compliant
// ("k=v k=v; k=v"), else the error or reason.
func entryDetail(e store.HistoryEntry) string {
	var rows []map[string]string
	if e.Status == "fail" && json.Unmarshal(e.Rows, &rows) == nil {
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
			kv := make([]string, len(keys))
			for i, k := range keys {
				kv[i] = k + "=" + r[k]
			}
			parts = append(parts, strings.Join(kv, " "))
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	}
	if e.Error != "" {
		return e.Error
	}
	return e.Reason
}

// oneCell keeps agent-supplied text on one table cell.
func oneCell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// clip shortens s to n characters, never cutting a character in half.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
