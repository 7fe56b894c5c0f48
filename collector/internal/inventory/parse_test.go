package inventory_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/inventory"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// brief is the part of an item a test compares.
type brief struct {
	Line                          int
	Serial, UUID, Host, Owner, OS string
	InScope                       bool
}

func briefs(items []inventory.Item) []brief {
	out := make([]brief, len(items))
	for i, it := range items {
		out[i] = brief{it.Line, it.Serial, it.HardwareUUID, it.Hostname, it.Owner, it.Platform, it.InScope}
	}
	return out
}

func TestParseJamfExportWithDefaults(t *testing.T) {
	t.Parallel()
	p, err := inventory.Parse(readFixture(t, "jamf.csv"), inventory.Mapping{})
	if err != nil {
		t.Fatal(err)
	}
	want := []brief{
		{2, "C02AAA111AAA", "8F1C2D3E-0000-4000-8000-000000000001", "alice-mbp", "alice@example.com", "macOS", true},
		// A quoted name with a comma; its Notes cell spans two lines.
		{3, "C02BBB222BBB", "8F1C2D3E-0000-4000-8000-000000000002", "Bob's MacBook, Pro", "bob@example.com", "macOS", true},
		{5, "C02CCC333CCC", "", "kiosk-lobby", "", "macOS", false}, // Unmanaged
		{6, "c02ddd444ddd", "8F1C2D3E-0000-4000-8000-000000000004", "carol-mba", "carol@example.com", "macOS", true},
		{9, "564D1234-ABCD-EF01-2345-6789ABCDEF01", "", "vm-build-01", "ops@example.com", "Linux", true},
	}
	if got := briefs(p.Items); !slices.Equal(got, want) {
		t.Errorf("items:\n got %+v\nwant %+v", got, want)
	}
	// Line 7 is blank (only separators) and is not data; line 8 has no serial.
	if !slices.Equal(p.SkippedLines, []int{8}) {
		t.Errorf("SkippedLines = %v, want [8]", p.SkippedLines)
	}
	if p.Delimiter != "," || p.InScope() != 4 {
		t.Errorf("delimiter %q, in scope %d", p.Delimiter, p.InScope())
	}
	wantCols := map[string]string{"serial": "Serial Number", "hostname": "Computer Name", "owner": "Email Address",
		"platform": "Operating System", "in_scope": "Managed", "hardware_uuid": "UDID"}
	for f, h := range wantCols {
		if p.Columns[f] != h {
			t.Errorf("column for %s = %q, want %q", f, p.Columns[f], h)
		}
	}
	var raw map[string]string
	if err := json.Unmarshal(p.Items[1].Raw, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["Notes"] != "loaner, returned \"as is\"\nsee ticket 42" || raw["Username"] != "bob" || len(raw) != 10 {
		t.Errorf("raw row = %v", raw)
	}
	if !strings.HasPrefix(string(p.Items[1].Raw), `{"Computer Name":"Bob's MacBook, Pro","Serial Number"`) {
		t.Errorf("raw keeps the file's column order: %s", p.Items[1].Raw)
	}
}

func TestParseIntuneExportWithSemicolonsAndBOM(t *testing.T) {
	t.Parallel()
	m, err := inventory.LoadMapping(filepath.Join("testdata", "intune-mapping.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		mapping     inventory.Mapping
		wantInScope []bool
	}{
		// Intune has no in-scope column the defaults know: all in scope.
		{"defaults", inventory.Mapping{}, []bool{true, true, true, true, true}},
		// Personal devices are out of scope; "corporate " matches ignoring case and space.
		{"ownership mapping", m, []bool{true, true, false, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := inventory.Parse(readFixture(t, "intune.csv"), tc.mapping)
			if err != nil {
				t.Fatal(err)
			}
			if p.Delimiter != ";" || len(p.Items) != 5 {
				t.Fatalf("delimiter %q, %d items", p.Delimiter, len(p.Items))
			}
			first := p.Items[0]
			// The BOM must not stick to the first header, or "Device name" is not found.
			if first.Hostname != "DESKTOP-7F3K2L" || first.Serial != "5CG1234XYZ" || first.Owner != "dave@example.com" || first.Platform != "Windows" {
				t.Errorf("first item = %+v", first)
			}
			if p.Items[2].Hostname != "Frank's iPhone; personal" || p.Items[4].Hostname != "Zoë-PC" {
				t.Errorf("quoted and non-ASCII names: %q, %q", p.Items[2].Hostname, p.Items[4].Hostname)
			}
			var got []bool
			for _, it := range p.Items {
				got = append(got, it.InScope)
			}
			if !slices.Equal(got, tc.wantInScope) {
				t.Errorf("in scope = %v, want %v", got, tc.wantInScope)
			}
		})
	}
}

func TestParseMalformedFileNamesEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := inventory.Parse(readFixture(t, "malformed.csv"), inventory.Mapping{})
	if err == nil {
		t.Fatal("malformed.csv parsed")
	}
	for _, want := range []string{
		"line 4",           // bare quote in an unquoted field
		"bare \"",          // csv's own words
		"line 5: 2 fields", // short row
		`duplicate serial "C02AAA111AAA" on lines 2, 3, 6`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		csv     string
		mapping inventory.Mapping
		want    []brief
		skipped []int
		wantErr string
	}{
		{name: "headers match ignoring case, spaces and underscores",
			csv:  "SERIAL_NUMBER, host-name ,OWNER\nA1,h1,o1\n",
			want: []brief{{2, "A1", "", "h1", "o1", "", true}}},
		{name: "tab separated",
			csv:  "serial\thostname\nA1\th1\n",
			want: []brief{{2, "A1", "", "h1", "", "", true}}},
		{name: "excel sep line names the separator and shifts line numbers",
			csv:  "sep=|\r\nSerial|Hostname\r\nA1|h1\r\n",
			want: []brief{{3, "A1", "", "h1", "", "", true}}},
		{name: "semicolons win over commas inside values",
			csv:  "Serial;Hostname;Notes\nA1;h1;a, b, c\n",
			want: []brief{{2, "A1", "", "h1", "", "", true}}},
		{name: "mapped columns override the defaults",
			csv:     "Asset Tag,Serial,Machine\nT1,A1,h1\n",
			mapping: inventory.Mapping{Columns: inventory.Columns{Serial: "asset tag", Hostname: "Machine"}},
			want:    []brief{{2, "T1", "", "h1", "", "", true}}},
		{name: "in-scope values are the mapping's",
			csv:     "Serial,Status\nA1,Active\nA2,Retired\nA3,yes\n",
			mapping: inventory.Mapping{Columns: inventory.Columns{InScope: "Status"}, InScopeValues: []string{"active"}},
			want:    []brief{{2, "A1", "", "", "", "", true}, {3, "A2", "", "", "", "", false}, {4, "A3", "", "", "", "", false}}},
		{name: "rows without a serial are skipped and counted",
			csv:     "Serial,Hostname\n,h0\nA1,h1\n  ,h2\n",
			want:    []brief{{3, "A1", "", "h1", "", "", true}},
			skipped: []int{2, 4}},
		{name: "UTF-16 with a byte order mark",
			csv:  "\xff\xfeS\x00e\x00r\x00i\x00a\x00l\x00\n\x00A\x001\x00\n\x00",
			want: []brief{{2, "A1", "", "", "", "", true}}},
		{name: "no serial column", csv: "Hostname,Owner\nh1,o1\n", wantErr: "serial: none of the usual headers"},
		{name: "a mapped column that is absent", csv: "Serial\nA1\n",
			mapping: inventory.Mapping{Columns: inventory.Columns{Owner: "Email"}}, wantErr: `owner: no column "Email"`},
		{name: "in-scope values without an in-scope column", csv: "Serial\nA1\n",
			mapping: inventory.Mapping{InScopeValues: []string{"yes"}}, wantErr: "no in-scope column"},
		{name: "repeated serial header is ambiguous", csv: "Serial,Serial\nA1,A2\n", wantErr: "appears 2 times"},
		{name: "empty file", csv: "", wantErr: "empty"},
		{name: "only rows without serials", csv: "Serial,Hostname\n,h1\n", wantErr: "no rows with a serial (1 skipped"},
		{name: "duplicate placeholder serial gets a hint", csv: "Serial\n0\n0\n", wantErr: "firmware placeholder"},
		{name: "windows-1252 is refused", csv: "Serial,Owner\nA1,Jos\xe9\n", wantErr: "line 2 is not UTF-8"},
		{name: "unterminated quote", csv: "Serial,Hostname\nA1,\"h1\nA2,h2\n", wantErr: "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := inventory.Parse([]byte(tc.csv), tc.mapping)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := briefs(p.Items); !slices.Equal(got, tc.want) {
				t.Errorf("items:\n got %+v\nwant %+v", got, tc.want)
			}
			if !slices.Equal(p.SkippedLines, tc.skipped) {
				t.Errorf("SkippedLines = %v, want %v", p.SkippedLines, tc.skipped)
			}
		})
	}
}

func TestParseMapping(t *testing.T) {
	t.Parallel()
	m, err := inventory.ParseMapping([]byte(`columns: {serial: "Serial Number", hostname: "Computer Name", owner: "Email", platform: "OS", in_scope: "Managed"}
in_scope_values: [yes, true, 1, managed]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := inventory.Mapping{Columns: inventory.Columns{Serial: "Serial Number", Hostname: "Computer Name", Owner: "Email",
		Platform: "OS", InScope: "Managed"}, InScopeValues: []string{"yes", "true", "1", "managed"}}
	if m.Columns != want.Columns || !slices.Equal(m.InScopeValues, want.InScopeValues) {
		t.Errorf("ParseMapping = %+v, want %+v", m, want)
	}
	if m, err := inventory.ParseMapping(nil); err != nil || m.Columns != (inventory.Columns{}) {
		t.Errorf("empty mapping = %+v, %v; want the defaults", m, err)
	}
	for _, bad := range []string{"colums: {serial: S}", "columns: {serial_number: S}", "in_scope_values: ['']"} {
		if _, err := inventory.ParseMapping([]byte(bad)); err == nil {
			t.Errorf("ParseMapping(%q) accepted a misspelt or empty key", bad)
		}
	}
}
