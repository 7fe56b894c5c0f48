package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/config"
)

const envPrefix = config.EnvPrefix

// load parses args like the CLI does and loads with environ instead of
// the process environment, so tests run in parallel without t.Setenv.
func load(t *testing.T, environ map[string]string, args ...string) (config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return config.Load(fs, func(k string) string { return environ[k] })
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := config.Default()
	if c.DataDir != d.DataDir || c.HTTPListen != d.HTTPListen || c.NATSListen != d.NATSListen || c.LogLevel != "info" ||
		c.StreamMaxAge != 7*24*time.Hour || c.IngestBatch != 2500 || c.ClickHouseDSN != "" || len(c.EnrollSecrets) != 0 {
		t.Errorf("Load with nothing set = %+v", c)
	}
	for _, f := range config.Fields {
		if got := c.Sources.Of(f.Key); got != "default" {
			t.Errorf("Sources.Of(%s) = %q, want default", f.Key, got)
		}
	}
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "collector.yaml", `
http_listen: 0.0.0.0:8443
allow_insecure_http: true
nats_listen: 0.0.0.0:4333
log_level: warn
ingest_batch: 2000
stream_max_age: 72h
enroll_secrets: [s1, s2]
`)
	environ := map[string]string{
		envPrefix + "CONFIG":         file,
		envPrefix + "NATS_LISTEN":    "127.0.0.1:5222",
		envPrefix + "LOG_LEVEL":      "error",
		envPrefix + "CLICKHOUSE_DSN": "clickhouse://db:9000/fleet",
	}
	c, err := load(t, environ, "-log-level", "debug", "-ingest-batch=100")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, got, want, from string
	}{
		{"data_dir", c.DataDir, config.Default().DataDir, "default"},
		{"http_listen", c.HTTPListen, "0.0.0.0:8443", "file " + file},
		{"stream_max_age", c.StreamMaxAge.String(), "72h0m0s", "file " + file},
		{"enroll_secrets", strings.Join(c.EnrollSecrets, ","), "s1,s2", "file " + file},
		{"nats_listen", c.NATSListen, "127.0.0.1:5222", "env FLEETPROOF_COLLECTOR_NATS_LISTEN"},
		{"clickhouse_dsn", c.ClickHouseDSN, "clickhouse://db:9000/fleet", "env FLEETPROOF_COLLECTOR_CLICKHOUSE_DSN"},
		{"log_level", c.LogLevel, "debug", "flag -log-level"}, // file < env < flag
		{"ingest_batch", strconv.Itoa(c.IngestBatch), "100", "flag -ingest-batch"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, tc.got, tc.want)
		}
		if got := c.Sources.Of(tc.key); got != tc.from {
			t.Errorf("%s came from %q, want %q", tc.key, got, tc.from)
		}
	}
}

func TestLoadConfigFlagBeatsConfigEnv(t *testing.T) {
	t.Parallel()
	envFile := writeFile(t, "env.yaml", "log_level: warn\n")
	flagFile := writeFile(t, "flag.yaml", "log_level: error\n")
	c, err := load(t, map[string]string{envPrefix + "CONFIG": envFile}, "-config", flagFile)
	if err != nil || c.LogLevel != "error" || c.Sources.Of("log_level") != "file "+flagFile {
		t.Errorf("log_level = %q from %q, err %v; want the -config file's", c.LogLevel, c.Sources.Of("log_level"), err)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		file    string // YAML; "" for no file
		environ map[string]string
		args    []string
		want    []string // each must appear in the error
	}{
		{name: "unknown file key", file: "http_listen: :8080\nhttp_lsten: :9090\n",
			want: []string{`unknown key "http_lsten"`}},
		{name: "bad duration from env", environ: map[string]string{envPrefix + "STREAM_MAX_AGE": "7d"},
			want: []string{"stream_max_age (from env FLEETPROOF_COLLECTOR_STREAM_MAX_AGE)", `"7d" is not a duration`}},
		{name: "bad int from file", file: "ingest_batch: lots\n",
			want: []string{"ingest_batch (from file ", `"lots" is not a whole number`}},
		{name: "bad int from flag", args: []string{"-ingest-batch", "1e3"},
			want: []string{"ingest_batch (from flag -ingest-batch)", `"1e3" is not a whole number`}},
		{name: "listen address without port", args: []string{"-http-listen", "localhost"},
			want: []string{`config: http_listen (from flag -http-listen): "localhost" is not host:port`}},
		{name: "nats listen address without port", environ: map[string]string{envPrefix + "NATS_LISTEN": "nats"},
			want: []string{`config: nats_listen (from env FLEETPROOF_COLLECTOR_NATS_LISTEN): "nats" is not host:port`}},
		{name: "bad log level", file: "log_level: verbose\n",
			want: []string{"config: log_level (from file ", `"verbose" is not one of debug, info, warn, error`}},
		{name: "dsn without clickhouse scheme", args: []string{"-clickhouse-dsn", "tcp://db:9000/fleet"},
			want: []string{"config: clickhouse_dsn (from flag -clickhouse-dsn): want clickhouse://host:port/database"}},
		{name: "http dsn is not the native protocol", args: []string{"-clickhouse-dsn", "http://db:8123"},
			want: []string{"clickhouse_dsn", "native protocol"}},
		{name: "empty data dir", args: []string{"-data-dir="},
			want: []string{"config: data_dir (from flag -data-dir): must not be empty"}},
		{name: "stream max age too short", args: []string{"-stream-max-age", "30m"},
			want: []string{"stream_max_age (from flag -stream-max-age): 30m0s is below the 1h minimum"}},
		{name: "ingest batch out of range", args: []string{"-ingest-batch", "0"},
			want: []string{"ingest_batch (from flag -ingest-batch): 0 is outside 1..10000"}},
		{name: "missing secret file", args: []string{"-enroll-secret-file", "/nonexistent/secrets"},
			want: []string{"enroll_secret_file (from flag -enroll-secret-file)", "/nonexistent/secrets"}},
		{name: "nats url with a foreign scheme", args: []string{"-nats-url", "http://nats:4222"},
			want: []string{"config: nats_url (from flag -nats-url)", `scheme "http" is not nats, tls, ws or wss`}},
		{name: "nats url without host", environ: map[string]string{envPrefix + "NATS_URL": "nats://:4222"},
			want: []string{"nats_url (from env FLEETPROOF_COLLECTOR_NATS_URL)", "names no host"}},
		{name: "nats url with a bad port", args: []string{"-nats-url", "nats://a:4222,nats://b:70000"},
			want: []string{"nats_url", `"nats://b:70000"`, "want nats://host:4222"}},
		{name: "nats url list with a hole", args: []string{"-nats-url", "nats://a:4222,,nats://b:4222"},
			want: []string{"nats_url", "an empty server URL"}},
		{name: "missing nats creds file", args: []string{"-nats-url", "nats://a:4222", "-nats-creds", "/nonexistent/user.creds"},
			want: []string{"nats_creds (from flag -nats-creds)", "/nonexistent/user.creds"}},
		{name: "nats creds without nats url", args: []string{"-nats-creds", "/x.creds"},
			want: []string{"nats_creds", "only applies with nats_url"}},
		// Validation reports every problem at once, not the first only.
		{name: "several problems", args: []string{"-log-level", "loud", "-http-listen", "8080"},
			want: []string{"log_level (from flag -log-level)", "http_listen (from flag -http-listen)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			environ := map[string]string{}
			for k, v := range tc.environ {
				environ[k] = v
			}
			if tc.file != "" {
				environ[envPrefix+"CONFIG"] = writeFile(t, "collector.yaml", tc.file)
			}
			_, err := load(t, environ, tc.args...)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestNATSKeysDir(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, "-data-dir", "/srv/fp", "-nats-url", "nats-1:4222,tls://nats-2.example:4222")
	if err != nil {
		t.Fatal(err)
	}
	if c.KeysDir() != "/srv/fp/auth" {
		t.Errorf("default keys dir %q", c.KeysDir())
	}
	c, err = load(t, nil, "-data-dir", "/srv/fp", "-nats-keys-dir", "shared/keys")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.KeysDir()) || !strings.HasSuffix(c.KeysDir(), "shared/keys") {
		t.Errorf("nats_keys_dir %q not made absolute", c.KeysDir())
	}
}

func TestDataDirMadeAbsolute(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, "-data-dir", "relative/data")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "relative", "data"); c.DataDir != want {
		t.Errorf("DataDir = %q, want %q", c.DataDir, want)
	}
}

func TestEnrollSecretFile(t *testing.T) {
	t.Parallel()
	// CRLF line ends (edited on Windows), blank lines, and a passphrase
	// with spaces, which must stay one secret.
	file := writeFile(t, "secrets", "first-secret\r\n\n  correct horse battery staple  \nthird\n")
	c, err := load(t, map[string]string{envPrefix + "ENROLL_SECRETS": "from-env"}, "-enroll-secret-file", file)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"from-env", "first-secret", "correct horse battery staple", "third"}
	if !slices.Equal(c.EnrollSecrets, want) {
		t.Errorf("EnrollSecrets = %q, want %q", c.EnrollSecrets, want)
	}
	if err := c.ServeRequirements(); err != nil {
		t.Errorf("ServeRequirements with secrets: %v", err)
	}
}

func TestServeRequirements(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ map[string]string
		args    []string
		wantErr string
	}{
		{name: "no secrets", wantErr: "config: enroll_secrets (from default): at least one enroll secret is required"},
		{name: "empty secret file", args: []string{"-enroll-secret-file", "EMPTY"}, wantErr: "at least one enroll secret"},
		{name: "secrets from flag", args: []string{"-enroll-secrets", "a,b"}},
		{name: "secrets from env", environ: map[string]string{envPrefix + "ENROLL_SECRETS": "a"}},
		{name: "secrets from file", args: []string{"-enroll-secret-file", "SECRETS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := slices.Clone(tc.args)
			for i, a := range args {
				switch a {
				case "EMPTY":
					args[i] = writeFile(t, "empty", "\n\n")
				case "SECRETS":
					args[i] = writeFile(t, "secrets", "s3cret\n")
				}
			}
			// Reporting commands load the same config without secrets.
			c, err := load(t, tc.environ, args...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = c.ServeRequirements()
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("ServeRequirements = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ServeRequirements = %v, want %q", err, tc.wantErr)
			}
			// The message must tell an admin every way to provide one.
			for _, how := range []string{"-enroll-secrets", "FLEETPROOF_COLLECTOR_ENROLL_SECRETS", "enroll_secret_file"} {
				if !strings.Contains(err.Error(), how) {
					t.Errorf("message does not mention %s: %v", how, err)
				}
			}
		})
	}
}

func TestFieldsHaveFlagsAndHelp(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	config.RegisterFlags(fs)
	for _, f := range config.Fields {
		if f.Help == "" {
			t.Errorf("%s has no help", f.Key)
		}
		if fs.Lookup(strings.ReplaceAll(f.Key, "_", "-")) == nil {
			t.Errorf("%s has no flag", f.Key)
		}
	}
	if fs.Lookup("config") == nil {
		t.Error("no -config flag")
	}
}

func TestPlainHTTPOnTheNetworkNeedsTLSOrAnExplicitOptIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		ok   bool
	}{
		{"loopback without tls", []string{"-http-listen", "127.0.0.1:8080"}, true},
		{"localhost without tls", []string{"-http-listen", "localhost:8080"}, true},
		{"all interfaces without tls", []string{"-http-listen", "0.0.0.0:8080"}, false},
		{"all interfaces behind a tls proxy", []string{"-http-listen", "0.0.0.0:8080", "-allow-insecure-http", "true"}, true},
	}
	for _, c := range cases {
		_, err := load(t, nil, c.args...)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "tls_cert") {
			t.Errorf("%s: error does not say what to set: %v", c.name, err)
		}
	}
}
