package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/cli"
	"github.com/fleetproof/fleetproof/collector/internal/inventory"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// run executes a command line against dsn, which it places after the
// command and subcommand ("inventory import -clickhouse-dsn ..."), and
// returns the exit code, stdout and stderr.
func run(t *testing.T, dsn string, args ...string) (int, string, string) {
	t.Helper()
	at := 1
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		at = 2
	}
	full := append(append(append([]string{}, args[:at]...), "-clickhouse-dsn", dsn), args[at:]...)
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), full, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// enroll records devices directly in the store, as enrollment would.
func enroll(t *testing.T, dsn string, devices ...store.Device) {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, d := range devices {
		if d.EnrolledAt.IsZero() {
			d.EnrolledAt = time.Now().Add(-time.Hour).Truncate(time.Second)
		}
		d.UpdatedAt = d.EnrolledAt
		if err := s.UpsertDevice(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
}

// A Kandji-like export with semicolons, a BOM and CRLF, and a mapping
// whose in-scope column is the blueprint.
const kandjiCSV = "\ufeffDevice Name;Serial Number;Blueprint;User Email;Platform\r\n" +
	"alice-mbp;C02AAA111AAA;Production;alice@example.com;Mac\r\n" +
	"bob-mbp;C02BBB222BBB;Production;bob@example.com;Mac\r\n" +
	"test-mac;C02TTT000TTT;Testing;;Mac\r\n" +
	"spare;;Production;;Mac\r\n"

const kandjiMapping = "columns: {in_scope: Blueprint}\nin_scope_values: [production]\n"

func TestInventoryImportListAndReconcile(t *testing.T) {
	t.Parallel()
	dsn := chtest.Database(t)
	file := writeFile(t, "kandji-2026-05.csv", kandjiCSV)
	mapping := writeFile(t, "kandji.yaml", kandjiMapping)

	code, out, errOut := run(t, dsn, "inventory", "import", "-file", file, "-mapping", mapping, "-by", "it@example.com")
	if code != 0 {
		t.Fatalf("inventory import exited %d: %s", code, errOut)
	}
	for _, want := range []string{"from kandji-2026-05: 3 rows, 2 in scope", `separator ";"`, `in_scope="Blueprint"`,
		"skipped 1 row(s) without a serial, on lines 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = run(t, dsn, "inventory", "list", "-format", "json")
	if code != 0 {
		t.Fatalf("inventory list exited %d: %s", code, errOut)
	}
	var snaps []store.InventorySnapshot
	if err := json.Unmarshal([]byte(out), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("inventory list json = %v, %v:\n%s", snaps, err, out)
	}
	if s := snaps[0]; s.Source != "kandji-2026-05" || s.ImportedBy != "it@example.com" || s.Rows != 3 || s.SkippedRows != 1 || len(s.FileSHA256) != 64 {
		t.Errorf("snapshot = %+v", s)
	}
	if code, out, _ := run(t, dsn, "inventory", "list"); code != 0 || !strings.Contains(out, snaps[0].ID) {
		t.Errorf("inventory list table (exit %d) lacks the snapshot:\n%s", code, out)
	}

	enroll(t, dsn,
		store.Device{DeviceID: "d-alice", Serial: "c02aaa111aaa", Hostname: "alice-mbp"},
		store.Device{DeviceID: "d-test", Serial: "C02TTT000TTT", Hostname: "test-mac"},
		store.Device{DeviceID: "d-stray", Serial: "XYZ", Hostname: "stray"},
	)
	code, out, errOut = run(t, dsn, "reconcile", "-format", "csv")
	if code != 0 {
		t.Fatalf("reconcile exited %d: %s", code, errOut)
	}
	want := "status,matched_by,weak,line,serial,hostname,owner,platform,device_id,device_serial,device_hostname,note\n" +
		"missing,,false,3,C02BBB222BBB,bob-mbp,bob@example.com,Mac,,,,\n" +
		"unknown,,false,,,,,,d-stray,XYZ,stray,\n" +
		"matched,serial,false,2,C02AAA111AAA,alice-mbp,alice@example.com,Mac,d-alice,c02aaa111aaa,alice-mbp,\n" +
		"out_of_scope,serial,false,4,C02TTT000TTT,test-mac,,Mac,d-test,C02TTT000TTT,test-mac,\n"
	if out != want {
		t.Errorf("reconcile csv:\n%s\nwant:\n%s", out, want)
	}

	code, out, errOut = run(t, dsn, "reconcile", "-format", "json", "-snapshot", snaps[0].ID)
	if code != 0 {
		t.Fatalf("reconcile -snapshot exited %d: %s", code, errOut)
	}
	var rec inventory.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Snapshot == nil || rec.Snapshot.ID != snaps[0].ID || rec.Summary.InScope != 2 || rec.Summary.Missing != 1 ||
		rec.Summary.Unknown != 1 || rec.Summary.Coverage != 50 {
		t.Errorf("reconcile json summary = %+v (snapshot %+v)", rec.Summary, rec.Snapshot)
	}

	// Before the import there was no inventory: say so and how to fix it.
	code, _, errOut = run(t, dsn, "reconcile", "-at", "2020-01-01")
	if code != 1 || !strings.Contains(errOut, "no inventory snapshot imported at or before 2020-01-01T23:59:59Z") ||
		!strings.Contains(errOut, "inventory import") {
		t.Errorf("reconcile before any import: exit %d, %s", code, errOut)
	}
}

func TestInventoryImportRefusesBadInput(t *testing.T) {
	t.Parallel()
	dsn := chtest.Database(t)
	dup := writeFile(t, "dup.csv", "Serial Number,Computer Name\nA1,h1\nB2,h2\na1 ,h3\n")
	badMapping := writeFile(t, "bad.yaml", "columns: {serial_no: S}\n")
	good := writeFile(t, "good.csv", "Serial\nA1\n")
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"duplicate serials name their lines", []string{"inventory", "import", "-file", dup, "-by", "me"}, `duplicate serial "A1" on lines 2, 4`},
		{"no file", []string{"inventory", "import", "-by", "me"}, "-file is required"},
		{"missing file", []string{"inventory", "import", "-file", filepath.Join(t.TempDir(), "nope.csv"), "-by", "me"}, "no such file"},
		{"misspelt mapping key", []string{"inventory", "import", "-file", good, "-mapping", badMapping, "-by", "me"}, "serial_no"},
		{"no importer", []string{"inventory", "import", "-file", good, "-by", ""}, "who imports"},
		{"unknown subcommand", []string{"inventory", "export"}, `unknown subcommand "export"`},
		{"bad format", []string{"reconcile", "-format", "xml"}, `-format "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, dsn, tc.args...)
			if code != 1 || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tc.wantErr)
			}
		})
	}
	// Nothing was stored by the refused imports.
	if code, out, _ := run(t, dsn, "inventory", "list", "-format", "json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("inventory list after refused imports: exit %d, %s", code, out)
	}
}
