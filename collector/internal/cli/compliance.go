package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/queries"
)

func init() {
	register(command{name: "compliance", order: 12, run: runCompliance,
		summary: "compliance (-check ID | -control CC6.1) -from DATE -to DATE [-format table|json|csv] [-trend]   share of the period each device complied, fleet totals, daily trend"})
}

func runCompliance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var req compliance.Request
	var from, to, format string
	var trend bool
	cfg, _, err := loadConfig("compliance", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&req.CheckID, "check", "", "one check id, e.g. disk_encryption")
		fs.StringVar(&req.Control, "control", "", "a SOC 2 criterion, e.g. CC6.1: every check that evidences it")
		fs.StringVar(&from, "from", "", "first day of the period (a date, UTC, or RFC 3339)")
		fs.StringVar(&to, "to", "", "last day of the period, included (a date, UTC), or an RFC 3339 end, excluded")
		fs.StringVar(&format, "format", "table", "output format: "+strings.Join(compliance.Formats, ", "))
		fs.BoolVar(&trend, "trend", false, "with -format csv: the daily trend instead of one row per device")
	})
	if err != nil {
		return err
	}
	if (req.CheckID == "") == (req.Control == "") {
		return errors.New("compliance: want exactly one of -check or -control")
	}
	if from == "" || to == "" {
		return errors.New("compliance: -from and -to are required")
	}
	if req.From, err = parsePeriodStart(from); err != nil {
		return fmt.Errorf("compliance: -from: %w", err)
	}
	if req.To, err = parsePeriodEnd(to); err != nil {
		return fmt.Errorf("compliance: -to: %w", err)
	}
	if !req.To.After(req.From) {
		return fmt.Errorf("compliance: -to %s is not after -from %s", to, from)
	}
	if !slices.Contains(compliance.Formats, format) {
		return fmt.Errorf("compliance: -format %q: want one of %s", format, strings.Join(compliance.Formats, ", "))
	}
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	// Refuse an unknown check or control before connecting.
	if _, err := compliance.ChecksFor(cat, req.CheckID, req.Control); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("compliance: %w", err)
	}
	defer st.Close()
	// Exceptions as recorded at the period's end, so the report for a
	// closed period reads the same whenever it is produced.
	excs, err := compliance.ExceptionsAsRecorded(ctx, st, req.To)
	if err != nil {
		return fmt.Errorf("compliance: %w", err)
	}
	req.Now = time.Now()
	rep, err := compliance.Compute(ctx, st, cat, req, excs)
	if err != nil {
		return fmt.Errorf("compliance: %w", err)
	}
	if trend && format == "csv" {
		return rep.WriteTrendCSV(stdout)
	}
	return rep.Write(stdout, format)
}

// parsePeriodStart reads the first instant of a period: a bare date means
// the start of that day (UTC).
func parsePeriodStart(s string) (time.Time, error) { return compliance.ParsePeriodStart(s) }

// parsePeriodEnd reads the exclusive end of a period: a bare date names
// its last day, so the end is the following midnight.
func parsePeriodEnd(s string) (time.Time, error) { return compliance.ParsePeriodEnd(s) }
