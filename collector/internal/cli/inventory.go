package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/inventory"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func init() {
	register(command{name: "inventory", order: 20, run: runInventory,
		summary: "inventory import|list   import an MDM/CMDB CSV export as a dated snapshot; list the snapshots"})
	register(command{name: "reconcile", order: 21, run: runReconcile,
		summary: "reconcile [-at TIME] [-snapshot ID] [-format table|json|csv]   inventory vs enrolled devices: matched, missing, unknown"})
}

func runInventory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("inventory: want import or list")
	}
	switch args[0] {
	case "import":
		return inventoryImport(ctx, args[1:], stdout, stderr)
	case "list":
		return inventoryList(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("inventory: unknown subcommand %q (want import or list)", args[0])
}

func inventoryImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var file, mappingFile, source, by string
	cfg, _, err := loadConfig("inventory import", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "file", "", "CSV export of the asset inventory (Jamf, Intune, Kandji, a CMDB or a spreadsheet)")
		fs.StringVar(&mappingFile, "mapping", "", "YAML mapping of columns and in-scope values (default: the usual export headers)")
		fs.StringVar(&source, "source", "", "where the export came from, e.g. jamf (default: the file name)")
		fs.StringVar(&by, "by", os.Getenv("USER"), "who imports (kept as evidence)")
	})
	if err != nil {
		return err
	}
	if file == "" {
		return errors.New("inventory import: -file is required")
	}
	if source == "" {
		source = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	var m inventory.Mapping
	if mappingFile != "" {
		if m, err = inventory.LoadMapping(mappingFile); err != nil {
			return fmt.Errorf("inventory import: %w", err)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("inventory import: %w", err)
	}
	// Parse before connecting, so a broken file is reported without a
	// database; Import parses again, which is cheap next to the insert.
	if _, err := inventory.Parse(data, m); err != nil {
		return fmt.Errorf("inventory import: %s: %w", file, err)
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("inventory import: %w", err)
	}
	defer st.Close()
	res, err := inventory.Import(ctx, st, data, inventory.ImportOptions{Source: source, ImportedBy: by, Mapping: m})
	if err != nil {
		return fmt.Errorf("inventory import: %s: %w", file, err)
	}
	sn := res.Snapshot
	fmt.Fprintf(stdout, "imported snapshot %s from %s: %d rows, %d in scope; sha256 %s\n", sn.ID, sn.Source, sn.Rows, res.InScope, sn.FileSHA256)
	var cols []string
	for _, f := range []string{inventory.FieldSerial, inventory.FieldHardwareUUID, inventory.FieldHostname, inventory.FieldOwner,
		inventory.FieldPlatform, inventory.FieldInScope} {
		if h, ok := res.Columns[f]; ok {
			cols = append(cols, fmt.Sprintf("%s=%q", f, h))
		}
	}
	fmt.Fprintf(stdout, "columns (separator %q): %s\n", res.Delimiter, strings.Join(cols, ", "))
	if _, ok := res.Columns[inventory.FieldInScope]; !ok {
		fmt.Fprintln(stdout, "no in-scope column: every row counts as in scope (name one with columns.in_scope in -mapping)")
	}
	if n := len(res.SkippedLines); n > 0 {
		fmt.Fprintf(stdout, "skipped %d row(s) without a serial, on lines %s\n", n, joinLines(res.SkippedLines))
	}
	return nil
}

// joinLines lists line numbers, at most 20 of them.
func joinLines(lines []int) string {
	var parts []string
	for i, l := range lines {
		if i == 20 {
			parts = append(parts, fmt.Sprintf("and %d more", len(lines)-20))
			break
		}
		parts = append(parts, fmt.Sprint(l))
	}
	return strings.Join(parts, ", ")
}

func inventoryList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var format string
	cfg, _, err := loadConfig("inventory list", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "table", "output format: table or json")
	})
	if err != nil {
		return err
	}
	if format != "table" && format != "json" {
		return fmt.Errorf("inventory list: -format %q: want table or json", format)
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("inventory list: %w", err)
	}
	defer st.Close()
	snaps, err := st.InventorySnapshots(ctx)
	if err != nil {
		return err
	}
	if format == "json" {
		if snaps == nil {
			snaps = []store.InventorySnapshot{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(snaps)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tIMPORTED\tSOURCE\tROWS\tSKIPPED\tBY\tSHA256")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.ID, s.ImportedAt.Format(time.RFC3339), s.Source, s.Rows, s.SkippedRows,
			s.ImportedBy, s.FileSHA256)
	}
	return tw.Flush()
}

func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var at, snapshot, format string
	cfg, _, err := loadConfig("reconcile", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&at, "at", "", "instant to reconcile: RFC 3339, or a date meaning the end of that day (UTC); default now")
		fs.StringVar(&snapshot, "snapshot", "", "inventory snapshot id (default: the newest imported at or before -at)")
		fs.StringVar(&format, "format", "table", "output format: "+strings.Join(inventory.Formats, ", "))
	})
	if err != nil {
		return err
	}
	when := time.Now()
	if at != "" {
		if when, err = parseTime(at); err != nil {
			return fmt.Errorf("reconcile: -at: %w", err)
		}
	}
	if !slices.Contains(inventory.Formats, format) {
		return fmt.Errorf("reconcile: -format %q: want one of %s", format, strings.Join(inventory.Formats, ", "))
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer st.Close()
	rec, err := inventory.ReconcileAt(ctx, st, when, snapshot)
	if errors.Is(err, store.ErrNotFound) && snapshot == "" {
		return fmt.Errorf("reconcile: %w (import one with `fleetproof-collector inventory import -file EXPORT.csv`)", err)
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	return rec.Write(stdout, format)
}
