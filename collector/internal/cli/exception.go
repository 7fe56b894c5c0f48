package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func init() {
	register(command{name: "exception", order: 25, run: runException,
		summary: "exception add|list|revoke   approved, expiring exemptions of a device or tag from a check"})
}

func runException(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("exception: want add, list or revoke")
	}
	switch args[0] {
	case "add":
		return exceptionAdd(ctx, args[1:], stdout, stderr)
	case "list":
		return exceptionList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return exceptionRevoke(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("exception: unknown subcommand %q (want add, list or revoke)", args[0])
}

func exceptionAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var req store.ExceptionRequest
	var expires string
	cfg, _, err := loadConfig("exception add", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&req.CheckID, "check", "", "check id from the catalog, e.g. disk_encryption")
		fs.StringVar(&req.DeviceID, "device", "", "the one device exempted (or -tag)")
		fs.StringVar(&req.Tag, "tag", "", "key=value: every device carrying this tag is exempted (or -device)")
		fs.StringVar(&req.Reason, "reason", "", "why (kept as evidence)")
		fs.StringVar(&req.ApprovedBy, "approved-by", "", "who approved it (kept as evidence)")
		fs.StringVar(&expires, "expires", "", "when it ends: a date (meaning the end of that day, UTC) or RFC 3339; at most a year out")
	})
	if err != nil {
		return err
	}
	if expires != "" {
		if req.Expires, err = parseTime(expires); err != nil {
			return fmt.Errorf("exception add: -expires: %w", err)
		}
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("exception add: %w", err)
	}
	defer st.Close()
	r, err := st.AddException(ctx, req)
	if err != nil {
		return fmt.Errorf("exception add: %w", err)
	}
	fmt.Fprintf(stdout, "granted exception %s: %s for %s until %s, approved by %s\n", r.ID, r.CheckID, exceptionScope(r),
		r.Expires.Format(time.RFC3339), r.ApprovedBy)
	return nil
}

func exceptionScope(r store.ExceptionRecord) string {
	if r.DeviceID != "" {
		return "device " + r.DeviceID
	}
	return "tag " + r.Tag
}

var exceptionFormats = []string{"table", "json", "csv"}

func exceptionList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var at, format string
	var active bool
	cfg, _, err := loadConfig("exception list", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&at, "at", "", "instant: RFC 3339, or a date meaning the end of that day (UTC); default now")
		fs.StringVar(&format, "format", "table", "output format: "+strings.Join(exceptionFormats, ", "))
		fs.BoolVar(&active, "active", false, "only the exceptions in force at -at")
	})
	if err != nil {
		return err
	}
	when := time.Now()
	if at != "" {
		if when, err = parseTime(at); err != nil {
			return fmt.Errorf("exception list: -at: %w", err)
		}
	}
	if format != "table" && format != "json" && format != "csv" {
		return fmt.Errorf("exception list: -format %q: want one of %s", format, strings.Join(exceptionFormats, ", "))
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("exception list: %w", err)
	}
	defer st.Close()
	list := st.Exceptions
	if active {
		list = st.ActiveExceptions
	}
	rs, err := list(ctx, when)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		if rs == nil {
			rs = []store.ExceptionRecord{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rs)
	case "csv":
		cw := csv.NewWriter(stdout)
		_ = cw.Write([]string{"id", "status", "check_id", "device_id", "tag", "reason", "approved_by", "created_at", "expires",
			"revoked_at", "revoked_by"})
		for _, r := range rs {
			_ = cw.Write([]string{r.ID, r.Status, r.CheckID, r.DeviceID, r.Tag, r.Reason, r.ApprovedBy,
				r.CreatedAt.Format(time.RFC3339), r.Expires.Format(time.RFC3339), optTime(r.RevokedAt), r.RevokedBy})
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(stdout, "Exceptions as of %s\n\n", when.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tCHECK\tAPPLIES TO\tGRANTED\tEXPIRES\tAPPROVED BY\tREVOKED\tREASON")
	for _, r := range rs {
		revoked := "-"
		if r.RevokedAt != nil {
			revoked = r.RevokedAt.Format(time.RFC3339) + " by " + r.RevokedBy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.CheckID, oneLine(exceptionScope(r)),
			r.CreatedAt.Format(time.RFC3339), r.Expires.Format(time.RFC3339), oneLine(r.ApprovedBy), oneLine(revoked), oneLine(r.Reason))
	}
	return tw.Flush()
}

func optTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339)
}

// oneLine keeps free text (a reason) on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func exceptionRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id, by string
	cfg, _, err := loadConfig("exception revoke", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "exception id (as in exception list)")
		fs.StringVar(&by, "by", os.Getenv("USER"), "who revokes (kept as evidence)")
	})
	if err != nil {
		return err
	}
	if id == "" {
		return errors.New("exception revoke: -id is required")
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("exception revoke: %w", err)
	}
	defer st.Close()
	r, err := st.RevokeException(ctx, id, by)
	if err != nil {
		return fmt.Errorf("exception revoke: %w", err)
	}
	fmt.Fprintf(stdout, "revoked exception %s (%s for %s) at %s\n", r.ID, r.CheckID, exceptionScope(r), r.RevokedAt.Format(time.RFC3339))
	return nil
}
