package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/agent/internal/config"
)

// load parses args with the agent's flags and loads with env as the
// environment.
func load(t *testing.T, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %v: %v", args, err)
	}
	return config.Load(fs, func(k string) string { return env[k] })
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"an empty config file leaves the defaults", func(t *testing.T) []string {
			return []string{"-config", writeFile(t, "agent.yaml", "")}
		}},
		{"no config at all leaves the defaults", func(t *testing.T) []string {
			if _, err := os.Stat(config.DefaultPath()); err == nil {
				t.Skipf("%s exists on this machine and would be read", config.DefaultPath())
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args(t), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := config.Default()
			if c.StateDir != want.StateDir || c.LogLevel != "info" || c.ServerURL != "" ||
				c.EnrollSecret != "" || c.EnrollSecretFile != "" || len(c.Tags) != 0 {
				t.Errorf("Load = %+v, want the defaults %+v", c, want)
			}
			for _, f := range config.Fields {
				if got := c.Sources.Of(f.Key); got != "default" {
					t.Errorf("source of %s = %q, want default", f.Key, got)
				}
			}
		})
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	file := "server_url: https://file.example.com\nlog_level: warn\nstate_dir: /srv/file-state\n"
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantURL    string
		wantURLSrc string
		wantLevel  string
		wantLvlSrc string
	}{
		{
			name:    "file alone",
			wantURL: "https://file.example.com", wantURLSrc: "file",
			wantLevel: "warn", wantLvlSrc: "file",
		},
		{
			name:    "environment beats file",
			env:     map[string]string{"FLEETPROOF_SERVER_URL": "https://env.example.com"},
			wantURL: "https://env.example.com", wantURLSrc: "env FLEETPROOF_SERVER_URL",
			wantLevel: "warn", wantLvlSrc: "file",
		},
		{
			name:    "flag beats environment and file",
			args:    []string{"-server-url", "https://flag.example.com"},
			env:     map[string]string{"FLEETPROOF_SERVER_URL": "https://env.example.com", "FLEETPROOF_LOG_LEVEL": "debug"},
			wantURL: "https://flag.example.com", wantURLSrc: "flag -server-url",
			wantLevel: "debug", wantLvlSrc: "env FLEETPROOF_LOG_LEVEL",
		},
		{
			name:    "an empty environment variable counts as unset",
			env:     map[string]string{"FLEETPROOF_SERVER_URL": ""},
			wantURL: "https://file.example.com", wantURLSrc: "file",
			wantLevel: "warn", wantLvlSrc: "file",
		},
		{
			name:    "flag beats file with no environment",
			args:    []string{"-log-level", "error"},
			wantURL: "https://file.example.com", wantURLSrc: "file",
			wantLevel: "error", wantLvlSrc: "flag -log-level",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "agent.yaml", file)
			env := map[string]string{"FLEETPROOF_CONFIG": path}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := load(t, tt.args, env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			fileSrc := "file " + path
			expand := func(s string) string {
				if s == "file" {
					return fileSrc
				}
				return s
			}
			if c.ServerURL != tt.wantURL || c.Sources.Of("server_url") != expand(tt.wantURLSrc) {
				t.Errorf("server_url = %q from %q, want %q from %q", c.ServerURL, c.Sources.Of("server_url"), tt.wantURL, expand(tt.wantURLSrc))
			}
			if c.LogLevel != tt.wantLevel || c.Sources.Of("log_level") != expand(tt.wantLvlSrc) {
				t.Errorf("log_level = %q from %q, want %q from %q", c.LogLevel, c.Sources.Of("log_level"), tt.wantLevel, expand(tt.wantLvlSrc))
			}
			if c.StateDir != "/srv/file-state" || c.Sources.Of("state_dir") != fileSrc {
				t.Errorf("state_dir = %q from %q, want /srv/file-state from %q", c.StateDir, c.Sources.Of("state_dir"), fileSrc)
			}
			if got := c.Sources.Of("enroll_secret"); got != "default" {
				t.Errorf("enroll_secret source = %q, want default", got)
			}
		})
	}
}

func TestConfigFileNamedByFlagBeatsEnvironment(t *testing.T) {
	fromFlag := writeFile(t, "flag.yaml", "log_level: debug\n")
	fromEnv := writeFile(t, "env.yaml", "log_level: error\n")
	c, err := load(t, []string{"-config", fromFlag}, map[string]string{"FLEETPROOF_CONFIG": fromEnv})
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" || c.Sources.Of("log_level") != "file "+fromFlag {
		t.Errorf("log_level = %q from %q, want debug from the -config file", c.LogLevel, c.Sources.Of("log_level"))
	}
}

func TestTags(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		args    []string
		env     map[string]string
		want    map[string]string
		wantErr string
	}{
		{
			name: "flag key=value list",
			args: []string{"-tags", "department=eng,owner=a@b"},
			want: map[string]string{"department": "eng", "owner": "a@b"},
		},
		{
			name: "environment with spaces and empty items",
			env:  map[string]string{"FLEETPROOF_TAGS": " department = eng , ,owner=a@b"},
			want: map[string]string{"department": "eng", "owner": "a@b"},
		},
		{
			name: "file string form",
			file: "tags: department=eng,owner=a@b\n",
			want: map[string]string{"department": "eng", "owner": "a@b"},
		},
		{
			name: "file mapping form",
			file: "tags:\n  department: eng\n  owner: a@b\n",
			want: map[string]string{"department": "eng", "owner": "a@b"},
		},
		{
			name: "a later source replaces the whole map",
			file: "tags: department=eng,owner=a@b\n",
			args: []string{"-tags", "site=berlin"},
			want: map[string]string{"site": "berlin"},
		},
		{
			name:    "an item without = is an error naming the source",
			args:    []string{"-tags", "department=eng,laptop"},
			wantErr: `tags (from flag -tags): "laptop" is not key=value`,
		},
		{
			name:    "an empty key is an error",
			env:     map[string]string{"FLEETPROOF_TAGS": "=eng"},
			wantErr: "tags (from env FLEETPROOF_TAGS)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"FLEETPROOF_CONFIG": writeFile(t, "agent.yaml", tt.file)}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := load(t, tt.args, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.Tags, tt.want) {
				t.Errorf("tags = %v, want %v", c.Tags, tt.want)
			}
		})
	}
}

func TestValidationNamesKeyAndSource(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		args    []string
		env     map[string]string
		wantErr []string
	}{
		{
			name:    "server_url without scheme from env",
			env:     map[string]string{"FLEETPROOF_SERVER_URL": "fleetproof.example.com"},
			wantErr: []string{`server_url (from env FLEETPROOF_SERVER_URL): "fleetproof.example.com" is not an http(s) URL`},
		},
		{
			name:    "server_url with another scheme from flag",
			args:    []string{"-server-url", "nats://127.0.0.1:4222"},
			wantErr: []string{`server_url (from flag -server-url)`},
		},
		{
			name:    "server_url without host from file",
			file:    "server_url: https://\n",
			wantErr: []string{`server_url (from file `, `is not an http(s) URL`},
		},
		{
			name:    "bad log level from file",
			file:    "log_level: verbose\n",
			wantErr: []string{`log_level (from file `, `"verbose" is not one of debug, info, warn, error`},
		},
		{
			name:    "bad log level from flag",
			args:    []string{"-log-level", "INFO"},
			wantErr: []string{`log_level (from flag -log-level)`},
		},
		{
			name: "every problem is reported at once",
			env:  map[string]string{"FLEETPROOF_SERVER_URL": "ftp://x", "FLEETPROOF_LOG_LEVEL": "loud"},
			wantErr: []string{"server_url (from env FLEETPROOF_SERVER_URL)",
				"log_level (from env FLEETPROOF_LOG_LEVEL)"},
		},
		{
			name:    "missing enroll_secret_file",
			args:    []string{"-enroll-secret-file", "/nonexistent/fleetproof/secret"},
			wantErr: []string{"enroll_secret_file (from flag -enroll-secret-file)", "/nonexistent/fleetproof/secret"},
		},
		{
			name:    "unknown key in the file",
			file:    "server_ur1: https://x.example.com\n",
			wantErr: []string{`unknown key "server_ur1"`},
		},
		{
			name:    "empty state_dir",
			args:    []string{"-state-dir", ""},
			wantErr: []string{"state_dir (from flag -state-dir): must not be empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"FLEETPROOF_CONFIG": writeFile(t, "agent.yaml", tt.file)}
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := load(t, tt.args, env)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEnrollSecretFileIsReadAndTrimmed(t *testing.T) {
	secret := writeFile(t, "secret", "  s3cret-from-mdm\r\n\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"file named by flag", []string{"-enroll-secret-file", secret}, nil},
		{"file named by env", nil, map[string]string{"FLEETPROOF_ENROLL_SECRET_FILE": secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"FLEETPROOF_CONFIG": writeFile(t, "agent.yaml", "")}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := load(t, tt.args, env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.EnrollSecret != "s3cret-from-mdm" {
				t.Errorf("enroll secret = %q, want %q", c.EnrollSecret, "s3cret-from-mdm")
			}
		})
	}
}

func TestStateDirIsMadeAbsolute(t *testing.T) {
	c, err := load(t, []string{"-state-dir", "relative/state"}, map[string]string{"FLEETPROOF_CONFIG": writeFile(t, "agent.yaml", "")})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "relative/state"); c.StateDir != want {
		t.Errorf("state_dir = %q, want %q", c.StateDir, want)
	}
}

func TestRunRequirements(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Config
		want    []string
		notWant []string
	}{
		{
			name: "nothing configured names both keys and how to set them",
			cfg:  config.Default(),
			want: []string{"server_url is required", "-server-url", "FLEETPROOF_SERVER_URL", config.DefaultPath(),
				"enroll_secret is required", "-enroll-secret", "FLEETPROOF_ENROLL_SECRET", "enroll_secret_file"},
		},
		{
			name:    "only the secret missing",
			cfg:     config.Config{ServerURL: "https://fleetproof.example.com"},
			want:    []string{"enroll_secret is required"},
			notWant: []string{"server_url"},
		},
		{
			name:    "only the server missing",
			cfg:     config.Config{EnrollSecret: "s"},
			want:    []string{"server_url is required"},
			notWant: []string{"enroll_secret is required"},
		},
		{
			name: "both set",
			cfg:  config.Config{ServerURL: "https://fleetproof.example.com", EnrollSecret: "s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.RunRequirements()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("RunRequirements: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("RunRequirements = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q mentions %q", err, w)
				}
			}
		})
	}
}
