package extract_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func TestBundleHoldsThePeriodsEvidenceAndVerifies(t *testing.T) {
	st := fleet(t)
	dir, m := write(t, st, options(t))

	res, err := extract.Verify(dir, extract.Fingerprint(testKey().Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("a fresh bundle does not verify: %v", res.Findings)
	}
	if res.Checked != 9 {
		t.Errorf("verified %d files, want 9 (7 CSV, xlsx, README)", res.Checked)
	}

	t.Run("evidence has every row of the period's checks once", func(t *testing.T) {
		ev := readCSV(t, filepath.Join(dir, extract.EvidenceFile))
		var got []string
		for _, r := range ev[1:] {
			got = append(got, r[0]+" "+r[2]+" "+r[3])
		}
		want := []string{
			"dev-01 disk_encryption 2026-01-05T10:00:00.25Z",
			"dev-01 disk_encryption 2026-02-01T09:00:00Z",
			"dev-01 disk_encryption 2026-03-01T09:00:00Z",
			"dev-01 screen_lock 2026-06-30T23:59:59.9Z",
			"dev-02 disk_encryption 2026-04-01T00:00:00Z",
			"dev-02 os_patch_currency 2026-04-01T00:00:00Z",
		}
		for i := 4; i <= 12; i++ {
			want = append(want, "dev-"+two(i)+" disk_encryption 2026-05-"+two(i)+"T12:00:00Z")
		}
		if !slices.Equal(got, want) {
			t.Errorf("evidence rows:\n got %q\nwant %q", got, want)
		}
		if *m.Files[slices.IndexFunc(m.Files, func(f extract.FileEntry) bool { return f.Name == extract.EvidenceFile })].Rows != len(want) {
			t.Error("the manifest's row count for evidence.csv is wrong")
		}
		if ev[2][1] != zoe || !strings.Contains(ev[2][7], `"note":"comma, \"quote\"\nnewline"`) {
			t.Errorf("hostname or explaining rows not kept: %q", ev[2])
		}
		if got := column(t, ev, "received_at")[0]; got != newestReceipt {
			t.Errorf("a redelivered result lists received_at %s, want the surviving copy's %s", got, newestReceipt)
		}
		if got := column(t, ev, "reason")[4]; got != "'-1 volumes encrypted" {
			t.Errorf("a reason that looks like a formula is %q in the CSV, want it prefixed with an apostrophe", got)
		}
	})

	t.Run("population is reconciled with the inventory", func(t *testing.T) {
		pop := readCSV(t, filepath.Join(dir, extract.PopulationFile))
		status := map[string]string{}
		ids, st, serials := column(t, pop, "device_id"), column(t, pop, "inventory_status"), column(t, pop, "inventory_serial")
		for i := range ids {
			status[ids[i]+"/"+serials[i]] = st[i]
		}
		for key, want := range map[string]string{
			"dev-01/C02ZOE001": "matched", "/C02MISSING": "missing", "dev-03/": "unknown", "dev-rev/SN-REV": "matched", "/KIOSK-1": "out_of_scope",
		} {
			if status[key] != want {
				t.Errorf("%s: status %q, want %q (all: %v)", key, status[key], want, status)
			}
		}
		for _, id := range []string{"dev-gone", "dev-late"} {
			if slices.Contains(ids, id) {
				t.Errorf("%s is in the population: revoked before the period, or enrolled after it", id)
			}
		}
		if h := column(t, pop, "hostname"); !slices.Contains(h, "'"+formulaish) {
			t.Errorf("a formula-like hostname is not neutralised in population.csv: %q", h)
		}
		if m.Inventory == nil || m.Inventory.SnapshotID != "inv-20260615T000000Z-0a1b2c3d" || m.Inventory.Missing != 1 {
			t.Errorf("manifest inventory: %+v", m.Inventory)
		}
	})

	t.Run("compliance lists silent pairs and exceptions", func(t *testing.T) {
		c := readCSV(t, filepath.Join(dir, extract.ComplianceFile))
		rows := map[string][]string{}
		for _, r := range c[1:] {
			rows[r[0]+"/"+r[2]] = r
		}
		// device, check: results, pass_share, first failure, last status, exceptions,
		// then the compliance package's status, failing days, excepted days, remediation.
		for key, want := range map[string][9]string{
			"dev-01/disk_encryption":   {"3", "0.6667", "2026-02-01T09:00:00Z", "pass", "", "partial", "1", "0", "2026-03-01T09:00:00Z"},
			"dev-02/os_patch_currency": {"1", "0.0000", "", "error", "", "", "", "", ""}, // no Linux SQL: not in scope
			"dev-03/disk_encryption":   {"0", "", "", "no results", "exc-1", "no_evidence", "0", "172", ""},
			"dev-03/screen_lock":       {"0", "", "", "no results", "exc-2", "no_evidence", "0", "28", ""},
			"dev-01/os_auto_updates":   {"0", "", "", "no results", "", "no_evidence", "0", "0", ""},
			"dev-rev/disk_encryption":  {"0", "", "", "no results", "", "no_evidence", "0", "0", ""},
		} {
			r := rows[key]
			if r == nil {
				t.Errorf("%s: no row", key)
				continue
			}
			col := func(name string) string { return r[slices.Index(c[0], name)] }
			got := [9]string{col("results"), col("pass_share"), col("first_failure_at"), col("last_status"), col("exceptions"),
				col("period_status"), col("failing_days"), col("excepted_days"), col("remediated_at")}
			if got != want {
				t.Errorf("%s: got %q, want %q", key, got, want)
			}
		}
		if got := rows["dev-rev/disk_encryption"][slices.Index(c[0], "days_in_scope")]; got != "60" {
			t.Errorf("a device revoked on 2026-03-01 is in scope %s days, want 60 (January, February and its last day)", got)
		}
	})

	t.Run("exceptions and gaps of the period", func(t *testing.T) {
		if got := column(t, readCSV(t, filepath.Join(dir, extract.ExceptionsFile)), "id"); !slices.Equal(got, []string{"exc-1", "exc-2"}) {
			t.Errorf("exceptions: %q, want exc-1 and exc-2 (exc-3 is another control's, exc-4 came after the period)", got)
		}
		g := readCSV(t, filepath.Join(dir, extract.GapsFile))
		if len(g) != 2 || g[1][0] != "dev-02" || g[1][4] != "42" {
			t.Errorf("gaps: %q", g)
		}
	})

	t.Run("manifest and README", func(t *testing.T) {
		if got := m.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"); got != newestReceipt {
			t.Errorf("generated_at %s, want the newest receipt %s", got, newestReceipt)
		}
		if !slices.Equal(m.Controls, []string{"CC6.1", "CC7.1"}) || m.Period.From != "2026-01-01" || m.Period.To != "2026-06-30" {
			t.Errorf("controls %v period %+v", m.Controls, m.Period)
		}
		var checks []string
		for _, c := range m.Checks {
			checks = append(checks, c.ID)
		}
		if !slices.Equal(checks, []string{"disk_encryption", "os_auto_updates", "os_patch_currency", "screen_lock"}) {
			t.Errorf("checks %v", checks)
		}
		readme, err := os.ReadFile(filepath.Join(dir, extract.ReadmeFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"2026-01-01 to 2026-06-30 inclusive, UTC", "**CC6.1**", "`disk_encryption`", "```sql", "FROM bitlocker_info",
			"inv-20260615T000000Z-0a1b2c3d", "1 missing", "fleetproof-collector verify -key " + m.SigningKey.Fingerprint,
			"sha256sum -c", "openssl pkeyutl -verify", "seed 42", m.SigningKey.PublicKeyPEM, "NewPCG(seed, 0)",
		} {
			if !bytes.Contains(readme, []byte(want)) {
				t.Errorf("README lacks %q", want)
			}
		}
	})
}

func two(i int) string { return string([]byte{byte('0' + i/10), byte('0' + i%10)}) }

func TestWithoutInventoryEveryEnrolledDeviceIsListed(t *testing.T) {
	st := fleet(t)
	if err := st.Conn().Exec(t.Context(), "TRUNCATE TABLE inventory_snapshots"); err != nil {
		t.Fatal(err)
	}
	dir, m := write(t, st, options(t))
	pop := readCSV(t, filepath.Join(dir, extract.PopulationFile))
	if got := column(t, pop, "inventory_status"); len(got) != 13 || slices.ContainsFunc(got, func(s string) bool { return s != extract.NoInventory }) {
		t.Errorf("statuses without an inventory: %q", got)
	}
	if m.Inventory != nil {
		t.Errorf("manifest names an inventory: %+v", m.Inventory)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, extract.ReadmeFile))
	if !bytes.Contains(readme, []byte("completeness rests on enrollment alone")) {
		t.Error("README does not say completeness rests on enrollment alone")
	}
}

func TestSameDataAndSeedGiveByteIdenticalBundles(t *testing.T) {
	st := fleet(t)
	a, _ := write(t, st, options(t))
	// Merging collapses the redelivered rows physically; the bundle must
	// not notice.
	for _, table := range []string{"results", "results_daily", "devices", "exceptions", "gaps"} {
		if err := st.Conn().Exec(t.Context(), "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := write(t, st, options(t))
	names := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if !slices.Equal(names(a), names(b)) || len(names(a)) != 11 {
		t.Fatalf("files differ: %v vs %v", names(a), names(b))
	}
	for _, n := range names(a) {
		x, _ := os.ReadFile(filepath.Join(a, n))
		y, _ := os.ReadFile(filepath.Join(b, n))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two extracts of the same data", n)
		}
	}
}

func TestSampleDependsOnlyOnTheSeed(t *testing.T) {
	st := fleet(t)
	o := options(t)
	sample := func(seed uint64) []string {
		o.Seed = seed
		dir, m := write(t, st, o)
		if m.Sample.Seed != seed || m.Sample.Size != 5 || m.Sample.FrameSize != 13 {
			t.Errorf("manifest sample %+v", m.Sample)
		}
		return column(t, readCSV(t, filepath.Join(dir, extract.SampleFile)), "device_id")
	}
	first, again, other := sample(42), sample(42), sample(43)
	if !slices.Equal(first, again) {
		t.Errorf("seed 42 drew %v, then %v", first, again)
	}
	if slices.Equal(first, other) {
		t.Errorf("seeds 42 and 43 drew the same sample %v", first)
	}
	for _, id := range first {
		if id == "dev-gone" || id == "dev-late" {
			t.Errorf("sample holds %s, which is outside the population", id)
		}
	}
}

func TestProgressIsReportedPerFile(t *testing.T) {
	st := fleet(t)
	o := options(t)
	var progress bytes.Buffer
	o.Progress, o.ProgressEvery = &progress, 5
	write(t, st, o)
	for _, want := range []string{"extract: evidence.csv: 5 rows so far", "extract: evidence.csv: 10 rows so far",
		"extract: evidence.csv: 15 rows\n", "extract: population.csv: 15 rows\n", "extract: evidence.xlsx:"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
}

func TestWriteRefusesBadRequests(t *testing.T) {
	st := fleet(t)
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "old.txt"), []byte("x"), 0o644)
	cases := []struct {
		name   string
		dir    string
		change func(*extract.Options)
		want   string
	}{
		{"a control no check evidences", "", func(o *extract.Options) { o.Controls = []string{"CC9.9"} }, "no check evidences CC9.9"},
		{"a period that ends before it starts", "", func(o *extract.Options) { o.From, o.To = o.To, o.From }, "before it starts"},
		{"a directory with files in it", full, func(*extract.Options) {}, "not empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := options(t)
			c.change(&o)
			dir := c.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "b")
			}
			_, err := extract.Write(t.Context(), dir, st, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// failingSource breaks the result stream part-way, as a dropped
// ClickHouse connection would.
type failingSource struct{ *store.Store }

func (f failingSource) EachResult(ctx context.Context, checks, devices []string, from, to time.Time, fn func(store.ResultRow) error) error {
	n := 0
	return f.Store.EachResult(ctx, checks, devices, from, to, func(r store.ResultRow) error {
		if n++; n > 3 {
			return errors.New("connection reset")
		}
		return fn(r)
	})
}

func TestAFailedExtractLeavesNothingBehind(t *testing.T) {
	st := fleet(t)
	parent := t.TempDir()
	_, err := extract.Write(t.Context(), filepath.Join(parent, "bundle"), failingSource{st}, options(t))
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("got %v, want the stream's error", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
