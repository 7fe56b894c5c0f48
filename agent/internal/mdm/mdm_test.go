package mdm_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/fleetproof/fleetproof/agent/internal/mdm"
)

var update = flag.Bool("update", false, "rewrite testdata/managed.binary.plist from managed.xml.plist")

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equal(t *testing.T, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// What the XML fixture must yield, whichever plist encoding carries it.
var profileWant = map[string]string{
	"server_url":    "https://fleetproof.example.com",
	"enroll_secret": "s3cr3t-from-jamf",
	"state_dir":     "/Library/Application Support/Fleetproof/state",
	"tags":          "department=eng,floor=3,site=berlin",
	"log_level":     "debug",
}

func TestParsePlistReadsProfileInBothEncodings(t *testing.T) {
	xml := read(t, "managed.xml.plist")
	// Encode the same settings as a binary plist here, so the binary
	// decoder is exercised even if the committed fixture were stale.
	var decoded any
	if _, err := plist.Unmarshal(xml, &decoded); err != nil {
		t.Fatal(err)
	}
	generated, err := plist.Marshal(decoded, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(generated, []byte("bplist00")) {
		t.Fatalf("encoder did not write a binary plist: %q", generated[:8])
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "managed.binary.plist"), generated, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"xml fixture", xml},
		{"binary generated now", generated},
		{"binary fixture", read(t, "managed.binary.plist")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mdm.ParsePlist(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, profileWant)
		})
	}
}

func TestParsePlistRendersValuesAsSettingText(t *testing.T) {
	when := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		value any
		want  string
	}{
		{"string", "https://x.example", "https://x.example"},
		{"true", true, "true"},
		{"false", false, "false"},
		{"integer", 42, "42"},
		{"negative integer", -7, "-7"},
		{"real", 1.5, "1.5"},
		{"date", when, "2026-11-25T09:30:00Z"},
		{"array joined with commas", []any{"a", 2, true}, "a,2,true"},
		{"dict as sorted pairs", map[string]any{"b": "2", "a": 1}, "a=1,b=2"},
		{"empty array", []any{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := plist.Marshal(map[string]any{"some_key": tc.value}, plist.XMLFormat)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mdm.ParsePlist(body)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, map[string]string{"some_key": tc.want})
		})
	}
}

func TestParsePlistRejectsWhatSettingsCannotHold(t *testing.T) {
	for _, tc := range []struct {
		name  string
		root  any
		inErr string
	}{
		{"top level array", []any{"server_url"}, "want a dictionary"},
		{"binary data", map[string]any{"enroll_secret": []byte{1, 2}}, `"enroll_secret": binary data`},
		{"nested dict in tags", map[string]any{"tags": map[string]any{"a": map[string]any{}}}, `entry "a"`},
		{"array of arrays", map[string]any{"x": []any{[]any{"a"}}}, "item 0"},
		{"comma inside item", map[string]any{"x": []any{"a,b"}}, "contains a comma"},
		{"comma inside tag value", map[string]any{"tags": map[string]any{"team": "a,b"}}, "contains a comma"},
		{"equals in tag name", map[string]any{"tags": map[string]any{"a=b": "c"}}, "without ',' or '='"},
		{"two spellings of one key", map[string]any{"ServerURL": "a", "server_url": "b"}, "both set server_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := plist.Marshal(tc.root, plist.XMLFormat)
			if err != nil {
				t.Fatal(err)
			}
			_, err = mdm.ParsePlist(body)
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.inErr)
			}
		})
	}
}

func TestParsePlistRejectsMalformedFile(t *testing.T) {
	if _, err := mdm.ParsePlist(read(t, "malformed.plist")); err == nil {
		t.Fatal("a truncated plist parsed")
	}
}

func TestKeysMatchCaseInsensitivelyAndUnknownNamesPassThrough(t *testing.T) {
	for name, want := range map[string]string{
		"server_url":       "server_url",
		"ServerURL":        "server_url",
		"serverurl":        "server_url",
		"Server-URL":       "server_url",
		"EnrollSecret":     "enroll_secret",
		"EnrollSecretFile": "enroll_secret_file",
		"StateDir":         "state_dir",
		"TAGS":             "tags",
		"LogLevel":         "log_level",
		"ServerURLs":       "ServerURLs", // a typo stays visible
		"PayloadUUID":      "PayloadUUID",
	} {
		if got := mdm.KeyFor(name); got != want {
			t.Errorf("KeyFor(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParsePlistKeepsUnknownKeysForValidationUpstream(t *testing.T) {
	body, _ := plist.Marshal(map[string]any{"ServerURL": "https://a.example", "server_urll": "x"}, plist.BinaryFormat)
	got, err := mdm.ParsePlist(body)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, map[string]string{"server_url": "https://a.example", "server_urll": "x"})
}

func TestReadPlistFileMissingIsNoSettings(t *testing.T) {
	got, err := mdm.ReadPlistFile(filepath.Join(t.TempDir(), "com.fleetproof.agent.plist"))
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no settings and no error", got, err)
	}
}

func TestReadPlistFileReportsMalformedFile(t *testing.T) {
	if _, err := mdm.ReadPlistFile(filepath.Join("testdata", "malformed.plist")); err == nil {
		t.Fatal("a truncated plist read without error")
	}
}

func regValues(t *testing.T, name string) []mdm.RegValue {
	t.Helper()
	var vals []mdm.RegValue
	if err := json.Unmarshal(read(t, name), &vals); err != nil {
		t.Fatal(err)
	}
	return vals
}

func TestFromRegistryValuesMapsPolicyKey(t *testing.T) {
	got, err := mdm.FromRegistryValues(regValues(t, "registry_policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, map[string]string{
		"server_url":         "https://fleetproof.example.com",
		"enroll_secret_file": `C:\ProgramData\Fleetproof\enroll.secret`,
		"tags":               "department=eng,site=berlin",
		"log_level":          "warn",
	})
}

func TestFromRegistryValuesRendersEachType(t *testing.T) {
	for _, tc := range []struct {
		name string
		val  mdm.RegValue
		want string
	}{
		{"REG_SZ", mdm.RegValue{Name: "LogLevel", Type: mdm.RegSZ, String: "info"}, "info"},
		{"REG_EXPAND_SZ as read", mdm.RegValue{Name: "LogLevel", Type: mdm.RegExpandSZ, String: "debug"}, "debug"},
		{"REG_DWORD", mdm.RegValue{Name: "LogLevel", Type: mdm.RegDWORD, Int: 1}, "1"},
		{"REG_QWORD", mdm.RegValue{Name: "LogLevel", Type: mdm.RegQWORD, Int: 1 << 40}, "1099511627776"},
		{"REG_MULTI_SZ", mdm.RegValue{Name: "LogLevel", Type: mdm.RegMultiSZ, Strings: []string{"a", "", "b"}}, "a,b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mdm.FromRegistryValues([]mdm.RegValue{tc.val})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, map[string]string{"log_level": tc.want})
		})
	}
}

func TestFromRegistryValuesRejectsUnsupportedTypesByName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vals  []mdm.RegValue
		inErr string
	}{
		{"REG_BINARY", regValues(t, "registry_binary.json"), `"EnrollSecret": registry type REG_BINARY`},
		{"comma in multi-string item", []mdm.RegValue{{Name: "Tags", Type: mdm.RegMultiSZ, Strings: []string{"a=1,b=2"}}}, "contains a comma"},
		{"two spellings", []mdm.RegValue{{Name: "StateDir", Type: mdm.RegSZ}, {Name: "state_dir", Type: mdm.RegSZ}}, "both set state_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mdm.FromRegistryValues(tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.inErr)
			}
		})
	}
}

func TestReadManagedFileParsesYAMLAndJSON(t *testing.T) {
	yamlDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(yamlDir, "managed.yaml"), read(t, "managed.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonDir := t.TempDir()
	js := `{"ServerURL": "https://fleetproof.example.com", "enroll_secret_file": "/etc/fleetproof/enroll.secret", "log_level": "warn", "tags": {"department": "eng", "site": "berlin"}}`
	if err := os.WriteFile(filepath.Join(jsonDir, "managed.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir, file string }{
		{"yaml", yamlDir, "managed.yaml"},
		{"json", jsonDir, "managed.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, src, err := mdm.ReadManagedFile(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if src != filepath.Join(tc.dir, tc.file) {
				t.Errorf("source %q, want the file read", src)
			}
			// YAML mappings have no order; compare tags as a set.
			tags := strings.Split(got["tags"], ",")
			if len(tags) != 2 || !strings.Contains(got["tags"], "department=eng") || !strings.Contains(got["tags"], "site=berlin") {
				t.Errorf("tags %q", got["tags"])
			}
			delete(got, "tags")
			equal(t, got, map[string]string{
				"server_url":         "https://fleetproof.example.com",
				"enroll_secret_file": "/etc/fleetproof/enroll.secret",
				"log_level":          "warn",
			})
		})
	}
}

func TestReadManagedFileMissingIsNoSettings(t *testing.T) {
	got, _, err := mdm.ReadManagedFile(t.TempDir())
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no settings and no error", got, err)
	}
}

func TestReadManagedFileRefusesTwoManagedFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range mdm.ManagedNames {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := mdm.ReadManagedFile(dir); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

func TestReadManagedFileReturnsTheBadFileAsSource(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "managed.yaml"), []byte("server_url: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, src, err := mdm.ReadManagedFile(dir)
	if err == nil || src != filepath.Join(dir, "managed.yaml") {
		t.Fatalf("err = %v, source %q", err, src)
	}
}
