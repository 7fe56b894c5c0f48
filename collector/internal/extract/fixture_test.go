package extract_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

func TestMain(m *testing.M) { chtest.Main(m) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Values the tests look for in the files.
const (
	zoe        = "Zoë's MacBook"
	tricky     = "comma, \"quote\"\nnewline"
	formulaish = `=HYPERLINK("http://evil.example","click")`
	// newestReceipt is the redelivery's receipt, the newest data of all.
	newestReceipt = "2026-07-03T08:00:00Z"
)

// fleet seeds a database with a small fleet over the first half of 2026
// (the period the tests extract), plus data just outside it, and returns
// the store.
func fleet(t *testing.T) *store.Store {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, chtest.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	enrolled := at("2025-12-01T00:00:00Z")
	devices := []store.Device{
		{DeviceID: "dev-01", Hostname: zoe, OS: "darwin", Serial: "C02ZOE001", Tags: map[string]string{"team": "design"}},
		{DeviceID: "dev-02", Hostname: "build-01.example", OS: "linux", Serial: "SN-LIN-2"},
		{DeviceID: "dev-03", Hostname: formulaish, OS: "windows", Serial: "WIN-3", Tags: map[string]string{"department": "lab"}},
		{DeviceID: "dev-rev", Hostname: "stolen", OS: "linux", Serial: "SN-REV"},
		{DeviceID: "dev-gone", Hostname: "retired", OS: "linux", Serial: "SN-GONE"},
		{DeviceID: "dev-late", Hostname: "new-hire", OS: "linux", Serial: "SN-LATE", EnrolledAt: at("2026-07-02T00:00:00Z")},
	}
	for i := 4; i <= 12; i++ {
		devices = append(devices, store.Device{DeviceID: fmt.Sprintf("dev-%02d", i), Hostname: fmt.Sprintf("host-%02d", i),
			OS: "linux", Serial: fmt.Sprintf("SN-%02d", i)})
	}
	for _, d := range devices {
		d.PublicKey = "UKEY-" + d.DeviceID
		if d.EnrolledAt.IsZero() {
			d.EnrolledAt = enrolled
		}
		d.UpdatedAt = d.EnrolledAt
		if err := st.UpsertDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []store.Revocation{
		{DeviceID: "dev-rev", PublicKey: "UKEY-dev-rev", RevokedAt: at("2026-03-01T00:00:00Z"), Reason: "stolen", RevokedBy: "it"},
		{DeviceID: "dev-gone", PublicKey: "UKEY-dev-gone", RevokedAt: at("2025-12-15T00:00:00Z"), Reason: "retired", RevokedBy: "it"},
	} {
		if err := st.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	res := func(check string, obs string, status evidence.Status, rows []map[string]string, reason, errText string) evidence.Result {
		return evidence.Result{CheckID: check, CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
			ObservedAt: at(obs), Status: status, Rows: rows, Reason: reason, Error: errText, DurationMS: 12, Engine: "builtin"}
	}
	mac := &evidence.Envelope{Schema: 1, DeviceID: "dev-01", AgentVersion: "0.4.0", Seq: 1, Results: []evidence.Result{
		res("disk_encryption", "2025-12-31T23:59:59Z", evidence.StatusPass, nil, "before the period", ""),
		res("disk_encryption", "2026-01-05T10:00:00.25Z", evidence.StatusPass, []map[string]string{{"compliant": "1"}}, "1 of 1 rows compliant", ""),
		res("disk_encryption", "2026-02-01T09:00:00Z", evidence.StatusFail, []map[string]string{{"compliant": "0", "note": tricky}}, "1 of 1 rows not compliant", ""),
		res("disk_encryption", "2026-03-01T09:00:00Z", evidence.StatusPass, nil, "1 of 1 rows compliant", ""),
		res("screen_lock", "2026-06-30T23:59:59.9Z", evidence.StatusPass, nil, "last instant of the period", ""),
		res("disk_encryption", "2026-07-01T00:00:00Z", evidence.StatusPass, nil, "after the period", ""),
		res("firewall", "2026-02-01T09:00:00Z", evidence.StatusFail, nil, "a check of another control", ""),
	}}
	linux := &evidence.Envelope{Schema: 1, DeviceID: "dev-02", AgentVersion: "0.4.0", Seq: 1, Results: []evidence.Result{
		res("os_patch_currency", "2026-04-01T00:00:00Z", evidence.StatusError, nil, "", tricky),
		res("disk_encryption", "2026-04-01T00:00:00Z", evidence.StatusFail, nil, "-1 volumes encrypted", ""),
	}, Gaps: []evidence.Gap{{From: at("2026-03-01T00:00:00Z"), To: at("2026-03-02T00:00:00Z"), Dropped: 42, Reason: "spool full"}}}
	var filler []*evidence.Envelope
	for i := 4; i <= 12; i++ {
		filler = append(filler, &evidence.Envelope{Schema: 1, DeviceID: fmt.Sprintf("dev-%02d", i), Seq: 1, Results: []evidence.Result{
			res("disk_encryption", fmt.Sprintf("2026-05-%02dT12:00:00Z", i), evidence.StatusPass, nil, "", "")}})
	}
	if err := st.InsertEnvelopes(ctx, append([]*evidence.Envelope{mac, linux}, filler...), at("2026-07-02T08:00:00Z")); err != nil {
		t.Fatal(err)
	}
	// The agent resent the Mac's envelope (no ack seen): stored once.
	if err := st.InsertEnvelopes(ctx, []*evidence.Envelope{mac}, at(newestReceipt)); err != nil {
		t.Fatal(err)
	}

	insertExceptions(t, st)
	items := []store.InventoryItem{
		{Line: 2, Serial: "C02ZOE001", Hostname: "zoe-mbp", Owner: "zoe@example.com", InScope: true},
		{Line: 3, Serial: "SN-LIN-2", InScope: true},
		{Line: 4, Serial: "C02MISSING", Hostname: "lost-laptop", Owner: "bob@example.com", InScope: true},
		{Line: 5, Serial: "SN-REV", InScope: true},
		{Line: 6, Serial: "KIOSK-1", Hostname: "kiosk", InScope: false},
	}
	for i := 4; i <= 12; i++ {
		items = append(items, store.InventoryItem{Line: 3 + i + 4, Serial: fmt.Sprintf("SN-%02d", i), InScope: true})
	}
	snap := store.InventorySnapshot{ID: "inv-20260615T000000Z-0a1b2c3d", ImportedAt: at("2026-06-15T00:00:00Z"),
		Source: "jamf", FileSHA256: "aa11", ImportedBy: "it@example.com"}
	if err := st.InsertInventory(ctx, snap, items); err != nil {
		t.Fatal(err)
	}
	return st
}

// insertExceptions writes exception rows as they would stand after
// approval and revocation, with past dates AddException cannot produce.
func insertExceptions(t *testing.T, st *store.Store) {
	t.Helper()
	b, err := st.Conn().PrepareBatch(t.Context(), `INSERT INTO exceptions (id, device_id, tag, check_id, reason,
		approved_by, created_at, expires, revoked_at, revoked_by, version)`)
	if err != nil {
		t.Fatal(err)
	}
	never := time.Unix(0, 0).UTC()
	for _, e := range []struct {
		id, dev, tag, check, reason string
		created, expires, revoked   time.Time
		by                          string
	}{
		{"exc-1", "dev-03", "", "disk_encryption", "lab machine, wiped nightly", at("2026-01-10T00:00:00Z"), at("2026-12-31T00:00:00Z"), never, ""},
		{"exc-2", "", "department=lab", "screen_lock", "kiosk mode", at("2026-02-01T00:00:00Z"), at("2026-12-31T00:00:00Z"), at("2026-03-01T00:00:00Z"), "it@example.com"},
		{"exc-3", "dev-02", "", "firewall", "another control", at("2026-02-01T00:00:00Z"), at("2026-12-31T00:00:00Z"), never, ""},
		{"exc-4", "dev-02", "", "disk_encryption", "granted after the period", at("2026-08-01T00:00:00Z"), at("2026-12-31T00:00:00Z"), never, ""},
	} {
		if err := b.Append(e.id, e.dev, e.tag, e.check, e.reason, "ciso@example.com", e.created, e.expires, e.revoked, e.by,
			uint64(e.created.UnixNano())); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// testKey is a fixed signing key, so signatures compare across runs.
func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

func options(t *testing.T) extract.Options {
	t.Helper()
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	return extract.Options{Controls: []string{"CC7.1", "CC6.1"}, From: at("2026-01-01T00:00:00Z"), To: at("2026-06-30T00:00:00Z"),
		SampleSize: 5, Seed: 42, AllResults: true, Catalog: cat, Key: testKey(), Version: "test"}
}

// write extracts into a new directory and returns it.
func write(t *testing.T, st extract.Source, o extract.Options) (string, *extract.Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	m, err := extract.Write(t.Context(), dir, st, o)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// readCSV parses a bundle CSV, checking the BOM is there.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := bytes.CutPrefix(b, []byte("\uFEFF"))
	if !ok {
		t.Fatalf("%s does not start with a UTF-8 byte-order mark", filepath.Base(path))
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return recs
}

// column returns a CSV's values in the named column, header excluded.
func column(t *testing.T, recs [][]string, name string) []string {
	t.Helper()
	i := -1
	for j, h := range recs[0] {
		if h == name {
			i = j
		}
	}
	if i < 0 {
		t.Fatalf("no column %q in %q", name, recs[0])
	}
	var out []string
	for _, r := range recs[1:] {
		out = append(out, r[i])
	}
	return out
}

// copyDir copies a bundle so a test can damage its own copy.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
