package settings_test

import (
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/internal/settings"
)

// conf exercises every setter kind.
type conf struct {
	Name  string
	Wait  time.Duration
	Count int
	Items []string
	Tags  map[string]string
}

var fields = []settings.Field[conf]{
	{Key: "name", Set: settings.String(func(c *conf) *string { return &c.Name })},
	{Key: "wait_time", Set: settings.Duration(func(c *conf) *time.Duration { return &c.Wait })},
	{Key: "count", Set: settings.Int(func(c *conf) *int { return &c.Count })},
	{Key: "items", Set: settings.List(func(c *conf) *[]string { return &c.Items })},
	{Key: "tags", Set: settings.Pairs(func(c *conf) *map[string]string { return &c.Tags })},
}

const prefix = "APP_"

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flags returns a parsed flag set with the fields registered.
func flags(t *testing.T, args ...string) *flag.FlagSet {
	t.Helper()
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	settings.RegisterFlags(fs, fields)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// merge runs the standard order: defaults, file, environment, flags.
func merge(t *testing.T, file string, environ map[string]string, args ...string) (conf, settings.Sources, error) {
	t.Helper()
	c := conf{Name: "default-name", Wait: time.Second, Count: 1}
	fs := flags(t, args...)
	src, err := settings.Merge(&c, fields,
		settings.File[conf](settings.ConfigPath(fs, prefix+"CONFIG", env(environ))),
		settings.Environment[conf](prefix, env(environ)),
		settings.Flags[conf](fs))
	return c, src, err
}

func TestMergePrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "name: from-file\nwait_time: 2m\ncount: 5\nitems: [a, b]\ntags: {team: infra}\n")
	environ := map[string]string{
		prefix + "CONFIG":    file,
		prefix + "WAIT_TIME": "3m",
		prefix + "COUNT":     "6",
	}
	c, src, err := merge(t, file, environ, "-count", "7")
	if err != nil {
		t.Fatal(err)
	}
	want := conf{Name: "from-file", Wait: 3 * time.Minute, Count: 7, Items: []string{"a", "b"}, Tags: map[string]string{"team": "infra"}}
	if c.Name != want.Name || c.Wait != want.Wait || c.Count != want.Count || !slices.Equal(c.Items, want.Items) || !maps.Equal(c.Tags, want.Tags) {
		t.Errorf("merged = %+v, want %+v", c, want)
	}
	wantSrc := settings.Sources{
		"name":      "file " + file,
		"items":     "file " + file,
		"tags":      "file " + file,
		"wait_time": "env APP_WAIT_TIME",
		"count":     "flag -count",
	}
	if !maps.Equal(src, wantSrc) {
		t.Errorf("sources = %v, want %v", src, wantSrc)
	}
}

func TestMergeDefaultsOnly(t *testing.T) {
	t.Parallel()
	c, src, err := merge(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "default-name" || c.Wait != time.Second || c.Count != 1 {
		t.Errorf("defaults changed: %+v", c)
	}
	if len(src) != 0 || src.Of("name") != "default" {
		t.Errorf("sources = %v, Of(name) = %q", src, src.Of("name"))
	}
}

func TestEmptyEnvironmentValueIsUnset(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "name: from-file\n")
	// An exported-but-empty variable must not wipe the file's value.
	c, src, err := merge(t, file, map[string]string{prefix + "CONFIG": file, prefix + "NAME": ""})
	if err != nil || c.Name != "from-file" || src.Of("name") != "file "+file {
		t.Errorf("name = %q from %s, err %v", c.Name, src.Of("name"), err)
	}
}

func TestFlagSetToEmptyOverrides(t *testing.T) {
	t.Parallel()
	c, src, err := merge(t, "", map[string]string{prefix + "NAME": "from-env"}, "-name=")
	if err != nil || c.Name != "" || src.Of("name") != "flag -name" {
		t.Errorf("name = %q from %s, err %v", c.Name, src.Of("name"), err)
	}
}

func TestConfigPathFlagBeatsEnvironment(t *testing.T) {
	t.Parallel()
	fromEnv := writeFile(t, "name: env-file\n")
	fromFlag := writeFile(t, "name: flag-file\n")
	c, _, err := merge(t, "", map[string]string{prefix + "CONFIG": fromEnv}, "-config", fromFlag)
	if err != nil || c.Name != "flag-file" {
		t.Errorf("name = %q, err %v; want the -config file's", c.Name, err)
	}
}

func TestMergeErrorsNameKeyAndSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		file    string // YAML body; "" means no file
		environ map[string]string
		args    []string
		want    []string // substrings of the error
	}{
		{name: "unknown file key", file: "name: x\nnmae: typo\n",
			want: []string{`unknown key "nmae"`, "file "}},
		{name: "bad duration in file", file: "wait_time: soon\n",
			want: []string{"wait_time (from file ", `"soon" is not a duration`}},
		{name: "bad int in file", file: "count: 1.5\n",
			want: []string{"count (from file ", `"1.5" is not a whole number`}},
		{name: "bad duration in env", environ: map[string]string{prefix + "WAIT_TIME": "10"},
			want: []string{"wait_time (from env APP_WAIT_TIME)", `"10" is not a duration`}},
		{name: "bad int in env", environ: map[string]string{prefix + "COUNT": "many"},
			want: []string{"count (from env APP_COUNT)", `"many" is not a whole number`}},
		{name: "bad duration flag", args: []string{"-wait-time", "1 hour"},
			want: []string{"wait_time (from flag -wait-time)", `"1 hour" is not a duration`}},
		{name: "bad int flag", args: []string{"-count", "0x"},
			want: []string{"count (from flag -count)", `"0x" is not a whole number`}},
		{name: "bad pair", environ: map[string]string{prefix + "TAGS": "team=infra,oops"},
			want: []string{"tags (from env APP_TAGS)", `"oops" is not key=value`}},
		{name: "file that is not a mapping", file: "- a\n- b\n",
			want: []string{"parse "}},
		{name: "file is not YAML", file: "name: [unclosed\n",
			want: []string{"parse "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			environ := maps.Clone(tc.environ)
			if environ == nil {
				environ = map[string]string{}
			}
			if tc.file != "" {
				environ[prefix+"CONFIG"] = writeFile(t, tc.file)
			}
			_, _, err := merge(t, "", environ, tc.args...)
			if err == nil {
				t.Fatal("merge succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, _, err := merge(t, "", map[string]string{prefix + "CONFIG": path})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name %s", err, path)
	}
}

func TestParseYAML(t *testing.T) {
	t.Parallel()
	got, err := settings.ParseYAML([]byte(`
s: text
quoted: "01"
n: 42
f: 0.5
b: true
empty:
list: [x, 2, false]
pairs: {k: v}
`))
	if err != nil {
		t.Fatal(err)
	}
	// Setters take text, so every scalar becomes the text it was written as.
	want := map[string]string{
		"s": "text", "quoted": "01", "n": "42", "f": "0.5", "b": "true", "empty": "",
		"list": "x,2,false", "pairs": "k=v",
	}
	if !maps.Equal(got, want) {
		t.Errorf("ParseYAML = %v, want %v", got, want)
	}
	if got, err := settings.ParseYAML(nil); err != nil || len(got) != 0 {
		t.Errorf("empty document: %v, %v", got, err)
	}
}

func TestNaming(t *testing.T) {
	t.Parallel()
	if got := settings.Flag("enroll_secret_file"); got != "enroll-secret-file" {
		t.Errorf("Flag = %q", got)
	}
	if got := settings.Env("FLEETPROOF_COLLECTOR_", "log_level"); got != "FLEETPROOF_COLLECTOR_LOG_LEVEL" {
		t.Errorf("Env = %q", got)
	}
	fs := flags(t)
	for _, name := range []string{"config", "name", "wait-time", "count", "items", "tags"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag -%s not registered", name)
		}
	}
}

func TestSplitList(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"":            nil,
		"a":           {"a"},
		" a , b ,,c,": {"a", "b", "c"},
		",":           nil,
	} {
		if got := settings.SplitList(in); !slices.Equal(got, want) {
			t.Errorf("SplitList(%q) = %q, want %q", in, got, want)
		}
	}
}
