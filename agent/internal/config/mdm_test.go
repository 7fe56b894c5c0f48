package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/agent/internal/mdm"
)

const mdmSource = "/Library/Managed Preferences/com.fleetproof.agent.plist"

// withMDM makes Load see values as this machine's MDM-managed settings.
func withMDM(t *testing.T, values map[string]string, err error) {
	t.Helper()
	prev := readMDM
	readMDM = func() (map[string]string, string, error) { return values, mdmSource, err }
	t.Cleanup(func() { readMDM = prev })
}

// load runs Load with a config file body (always a file, so the machine's
// own /etc/fleetproof/agent.yaml can never leak in), env and flags.
func load(t *testing.T, file string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	RegisterFlags(fs)
	if err := fs.Parse(append([]string{"-config", path}, args...)); err != nil {
		t.Fatal(err)
	}
	return Load(fs, func(k string) string { return env[k] })
}

func TestLoadLayersMDMBelowFileEnvAndFlags(t *testing.T) {
	managed := map[string]string{
		"server_url": "https://mdm.example", "log_level": "warn",
		"tags": "site=berlin", "enroll_secret": "from-mdm",
	}
	for _, tc := range []struct {
		name      string
		file      string
		env       map[string]string
		args      []string
		wantURL   string
		urlSource string
	}{
		{"mdm alone", "", nil, nil, "https://mdm.example", "mdm " + mdmSource},
		{"file beats mdm", "server_url: https://file.example\n", nil, nil, "https://file.example", "file "},
		{"env beats file and mdm", "server_url: https://file.example\n",
			map[string]string{"FLEETPROOF_SERVER_URL": "https://env.example"}, nil, "https://env.example", "env FLEETPROOF_SERVER_URL"},
		{"flag beats everything", "server_url: https://file.example\n",
			map[string]string{"FLEETPROOF_SERVER_URL": "https://env.example"}, []string{"-server-url", "https://flag.example"},
			"https://flag.example", "flag -server-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withMDM(t, managed, nil)
			c, err := load(t, tc.file, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.ServerURL != tc.wantURL || !strings.HasPrefix(c.Sources.Of("server_url"), tc.urlSource) {
				t.Errorf("server_url = %q from %q, want %q from %q…", c.ServerURL, c.Sources.Of("server_url"), tc.wantURL, tc.urlSource)
			}
			// Keys no higher layer sets keep the MDM value and say so.
			if c.LogLevel != "warn" || c.Sources.Of("log_level") != "mdm "+mdmSource {
				t.Errorf("log_level = %q from %q, want warn from the MDM profile", c.LogLevel, c.Sources.Of("log_level"))
			}
			if c.Tags["site"] != "berlin" || c.EnrollSecret != "from-mdm" {
				t.Errorf("tags %v, secret %q: MDM values lost", c.Tags, c.EnrollSecret)
			}
			// Keys nobody sets stay defaults.
			if c.Sources.Of("state_dir") != "default" {
				t.Errorf("state_dir from %q, want default", c.Sources.Of("state_dir"))
			}
		})
	}
}

func TestLoadWithoutMDMSettingsKeepsDefaults(t *testing.T) {
	withMDM(t, map[string]string{}, nil)
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "info" || c.StateDir != DefaultStateDir() {
		t.Errorf("defaults changed: %+v", c)
	}
	for _, f := range Fields {
		if s := c.Sources.Of(f.Key); s != "default" {
			t.Errorf("%s from %q, want default", f.Key, s)
		}
	}
}

func TestLoadReportsBadMDMValuesAsComingFromMDM(t *testing.T) {
	for _, tc := range []struct {
		name    string
		managed map[string]string
		readErr error
		inErr   string
	}{
		{"setter rejects value", map[string]string{"tags": "no-equals-sign"}, nil,
			"tags (from mdm " + mdmSource + ")"},
		{"validation rejects value", map[string]string{"server_url": "ftp://fleetproof.example"}, nil,
			"server_url (from mdm " + mdmSource + ")"},
		{"unknown key", map[string]string{"server_urll": "https://x.example"}, nil,
			"mdm " + mdmSource + `: unknown key "server_urll"`},
		{"unreadable profile", nil, errors.New("not a valid plist"),
			"mdm " + mdmSource + ": not a valid plist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withMDM(t, tc.managed, tc.readErr)
			_, err := load(t, "", nil)
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.inErr)
			}
		})
	}
}

func TestLoadBadMDMValueOverriddenByFileIsStillAnError(t *testing.T) {
	// A broken profile must be fixed where it is, even if the file happens
	// to set the same key: otherwise removing the file later breaks the
	// agent with no warning today.
	withMDM(t, map[string]string{"tags": "broken"}, nil)
	_, err := load(t, "tags: site=berlin\n", nil)
	if err == nil || !strings.Contains(err.Error(), "from mdm") {
		t.Fatalf("err = %v, want the MDM value reported", err)
	}
}

func TestLoadReadsAManagedPlistEndToEnd(t *testing.T) {
	prev := readMDM
	t.Cleanup(func() { readMDM = prev })
	fixture := filepath.Join("..", "mdm", "testdata", "managed.binary.plist")
	readMDM = func() (map[string]string, string, error) {
		m, err := mdm.ReadPlistFile(fixture)
		return m, fixture, err
	}
	c, err := load(t, "log_level: error\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerURL != "https://fleetproof.example.com" || c.Tags["department"] != "eng" || c.Tags["floor"] != "3" {
		t.Errorf("profile not applied: %+v", c)
	}
	if c.LogLevel != "error" || !strings.HasPrefix(c.Sources.Of("log_level"), "file ") {
		t.Errorf("log_level %q from %q, want the file's error", c.LogLevel, c.Sources.Of("log_level"))
	}
	if c.Sources.Of("server_url") != "mdm "+fixture {
		t.Errorf("server_url from %q", c.Sources.Of("server_url"))
	}
}

func TestMDMKeysAreTheConfigKeys(t *testing.T) {
	var keys []string
	for _, f := range Fields {
		keys = append(keys, f.Key)
	}
	if !slices.Equal(keys, mdm.Keys) {
		t.Errorf("mdm.Keys = %v, config.Fields = %v: an MDM name would map to no key", mdm.Keys, keys)
	}
}
