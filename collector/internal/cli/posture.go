package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/posture"
	"github.com/fleetproof/fleetproof/collector/internal/render"
	"github.com/fleetproof/fleetproof/queries"
)

func init() {
	register(command{name: "posture", order: 10, run: runPosture,
		summary: "posture [-at TIME] [-format table|json|csv]   latest status per device and check as of a time"})
}

func runPosture(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var at, format string
	var stale int
	cfg, _, err := loadConfig("posture", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&at, "at", "", "instant to report on: RFC 3339, or a date meaning the end of that day (UTC); default now")
		fs.StringVar(&format, "format", "table", "output format: "+strings.Join(posture.Formats, ", "))
		fs.IntVar(&stale, "stale-after", 3, "a result older than this many check intervals counts as unknown")
	})
	if err != nil {
		return err
	}
	when := time.Now()
	if at != "" {
		if when, err = parseTime(at); err != nil {
			return fmt.Errorf("posture: -at: %w", err)
		}
	}
	if !render.Valid(format) {
		return fmt.Errorf("posture: -format %q: want one of %s", format, strings.Join(posture.Formats, ", "))
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("posture: %w", err)
	}
	defer st.Close()
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	rep, err := posture.Compute(ctx, st, when, cat, posture.Options{StaleAfter: stale})
	if err != nil {
		return err
	}
	return rep.Write(stdout, format)
}
