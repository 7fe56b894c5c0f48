package cli

import (
	"context"
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
	register(command{name: "stale", order: 13, run: runStale,
		summary: "stale [-at TIME] [-window DURATION] [-gaps-from TIME] [-format table|json|csv]   devices that stopped reporting, and spool gaps"})
}

func runStale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var at, gapsFrom, format string
	var window time.Duration
	cfg, _, err := loadConfig("stale", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&at, "at", "", "instant to report on: RFC 3339, or a date meaning the end of that day (UTC); default now")
		fs.DurationVar(&window, "window", 0, "silent longer than this is stale (default: 3 × the shortest check interval)")
		fs.StringVar(&gapsFrom, "gaps-from", "", "list spool gaps from this date or instant up to -at (default: 30 days before -at)")
		fs.StringVar(&format, "format", "table", "output format: "+strings.Join(compliance.Formats, ", "))
	})
	if err != nil {
		return err
	}
	when := time.Now().UTC().Truncate(time.Second)
	if at != "" {
		if when, err = parseTime(at); err != nil {
			return fmt.Errorf("stale: -at: %w", err)
		}
	}
	var gapsStart time.Time
	if gapsFrom != "" {
		if gapsStart, err = parsePeriodStart(gapsFrom); err != nil {
			return fmt.Errorf("stale: -gaps-from: %w", err)
		}
	}
	if window < 0 {
		return fmt.Errorf("stale: -window %s is negative", window)
	}
	if !slices.Contains(compliance.Formats, format) {
		return fmt.Errorf("stale: -format %q: want one of %s", format, strings.Join(compliance.Formats, ", "))
	}
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	req := compliance.NewStaleRequest(when, window, cat)
	if !gapsStart.IsZero() {
		req.GapsFrom = gapsStart
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("stale: %w", err)
	}
	defer st.Close()
	rep, err := compliance.FindStale(ctx, st, req)
	if err != nil {
		return fmt.Errorf("stale: %w", err)
	}
	return rep.Write(stdout, format)
}
