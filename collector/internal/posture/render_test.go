package posture_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fleetproof/fleetproof/collector/internal/posture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func ptr(t time.Time) *time.Time { return &t }

// sampleReport covers every status and the text renderers must cope
// with: a long multi-byte detail, an error spanning lines, and CSV
// metacharacters.
func sampleReport() posture.Report {
	obs := time.Date(2025, 3, 14, 11, 30, 0, 0, time.UTC)
	return posture.Report{
		At: time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC),
		Entries: []posture.Entry{
			{DeviceID: "dev-a", Hostname: "a.example", OS: "linux", CheckID: "disk_encryption", Title: "Disk encryption is on",
				Status: "pass", ObservedAt: ptr(obs)},
			{DeviceID: "dev-b", Hostname: "b.example", OS: "darwin", CheckID: "disk_encryption", Title: "Disk encryption is on",
				Status: "fail", ObservedAt: ptr(obs), Reason: "2 of 2 rows not compliant",
				Detail: "device=/dev/disk3s1 name=Macintosh HD — Données encrypted=0; device=/dev/disk4s1 name=Sauvegarde « externe » encrypted=0"},
			{DeviceID: "dev-c", Hostname: "c.example", OS: "windows", CheckID: "disk_encryption", Title: "Disk encryption is on",
				Status: "error", ObservedAt: ptr(obs), Reason: "osquery: query failed:\n\tno such table: bitlocker_info"},
			{DeviceID: "dev-d", Hostname: "d.example", OS: "linux", CheckID: "disk_encryption", Title: "Disk encryption is on",
				Status: "unknown", ObservedAt: ptr(obs.Add(-72 * time.Hour)), Stale: true,
				Reason: "last result (pass, 2025-03-11T11:30:00Z) is older than 3h0m0s"},
			{DeviceID: "dev-e", Hostname: "e.example", OS: "linux", CheckID: "disk_encryption", Title: "Disk encryption is on",
				Status: "unknown", Reason: "no result reported"},
			{DeviceID: "dev-b", Hostname: "b.example", OS: "darwin", CheckID: "macos_sip", Title: `SIP is "on", always`,
				Status: "not_applicable", ObservedAt: ptr(obs), Reason: "query returned no rows"},
		},
		Summary: []posture.Summary{
			{CheckID: "disk_encryption", Title: "Disk encryption is on", Devices: 5, Pass: 1, Fail: 1, Error: 1, Unknown: 2},
			{CheckID: "macos_sip", Title: `SIP is "on", always`, Devices: 1, NotApplicable: 1},
		},
	}
}

func TestWriteGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ format, golden string }{
		{"table", "report.txt"},
		{"", "report.txt"}, // the default is the table
		{"json", "report.json"},
		{"csv", "report.csv"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := sampleReport().Write(&buf, tc.format); err != nil {
				t.Fatal(err)
			}
			if !utf8.Valid(buf.Bytes()) {
				t.Error("output is not valid UTF-8")
			}
			path := filepath.Join("testdata", tc.golden)
			if *update && tc.format != "" {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s output differs from %s (go test -update rewrites it after review):\n got:\n%s\nwant:\n%s", tc.format, path, buf.Bytes(), want)
			}
		})
	}
}

// The goldens pin the bytes; these pin the properties that matter to
// whoever reads them, so an -update cannot quietly lose them.

func TestWriteTableKeepsOneLinePerEntry(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	rep := sampleReport()
	if err := rep.Write(&buf, "table"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	// Title, blank, header, entries, blank, header, summaries.
	if want := 2 + 1 + len(rep.Entries) + 1 + 1 + len(rep.Summary); len(lines) != want {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), want, buf.String())
	}
	for _, l := range lines {
		if strings.ContainsRune(l, '\t') {
			t.Errorf("tab left in table line %q", l)
		}
	}
	// Details are cut to 80 characters, on a character boundary.
	failing := lines[4]
	if !strings.Contains(failing, "…") || strings.Contains(failing, "Sauvegarde « externe »") {
		t.Errorf("long detail not truncated: %q", failing)
	}
	if i := strings.Index(failing, "device="); utf8.RuneCountInString(failing[i:]) != 80 {
		t.Errorf("truncated detail is %d characters, want 80: %q", utf8.RuneCountInString(failing[i:]), failing[i:])
	}
}

func TestWriteJSONRoundTrips(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().Write(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	var got posture.Report
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := sampleReport()
	if len(got.Entries) != len(want.Entries) || !got.At.Equal(want.At) {
		t.Fatalf("decoded %+v", got)
	}
	for i := range want.Entries {
		g, w := got.Entries[i], want.Entries[i]
		if (g.ObservedAt == nil) != (w.ObservedAt == nil) || g.ObservedAt != nil && !g.ObservedAt.Equal(*w.ObservedAt) {
			t.Errorf("entry %d observed_at %v, want %v", i, g.ObservedAt, w.ObservedAt)
		}
		g.ObservedAt, w.ObservedAt = nil, nil
		if g != w {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestWriteCSVParsesBack(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().Write(&buf, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rep := sampleReport()
	if len(recs) != 1+len(rep.Entries) {
		t.Fatalf("%d records, want header + %d", len(recs), len(rep.Entries))
	}
	// Spreadsheet users get the full text, unlike the table.
	if got := recs[2][9]; got != rep.Entries[1].Detail {
		t.Errorf("detail = %q", got)
	}
	if got := recs[3][8]; got != rep.Entries[2].Reason {
		t.Errorf("multi-line reason = %q", got)
	}
}

func TestWriteEmptyReportJSONHasEmptyLists(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	rep := posture.Build(time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC), nil, nil, testCatalog(t), posture.Options{})
	if err := rep.Write(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	// null instead of [] breaks clients that iterate the lists.
	if s := buf.String(); !strings.Contains(s, `"entries": []`) || !strings.Contains(s, `"summary": []`) {
		t.Errorf("empty report JSON:\n%s", s)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"xml", "JSON", "yaml"} {
		var buf bytes.Buffer
		err := sampleReport().Write(&buf, format)
		if err == nil || !strings.Contains(err.Error(), `"`+format+`"`) {
			t.Errorf("Write(%q) = %v, want an error naming the format", format, err)
		}
		if buf.Len() != 0 {
			t.Errorf("Write(%q) wrote %q before failing", format, buf.String())
		}
	}
	for _, f := range posture.Formats {
		if err := sampleReport().Write(&bytes.Buffer{}, f); err != nil {
			t.Errorf("advertised format %q: %v", f, err)
		}
	}
}
