package settings

import (
	"errors"
	"flag"
	"path/filepath"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Field binds one configuration key of T to a setter that parses a string.
// File values are passed to the setter as their YAML scalar text (lists
// joined with commas), so every source goes through the same parsing.
type Field[T any] struct {
	Key  string // snake_case; flag -key-with-dashes; env PREFIX_KEY
	Help string
	Set  func(c *T, v string) error
	// Secret values are redacted when shown.
	Secret bool
}

// Flag is the flag name of a key.
func Flag(key string) string { return strings.ReplaceAll(key, "_", "-") }

// Env is the environment variable of a key.
func Env(prefix, key string) string { return prefix + strings.ToUpper(key) }

// Sources records where each key's value came from.
type Sources map[string]string

// Of says where key's value came from ("default" when unset).
func (s Sources) Of(key string) string {
	if v, ok := s[key]; ok {
		return v
	}
	return "default"
}

// RegisterFlags adds a string flag per field, plus -config.
func RegisterFlags[T any](fs *flag.FlagSet, fields []Field[T]) {
	if fs.Lookup("config") == nil {
		fs.String("config", "", "YAML configuration file")
	}
	for _, f := range fields {
		fs.String(Flag(f.Key), "", f.Help)
	}
}

// Layer applies one source to c.
type Layer[T any] func(c *T, fields []Field[T], src Sources) error

// Merge applies layers in order; later layers win.
func Merge[T any](c *T, fields []Field[T], layers ...Layer[T]) (Sources, error) {
	src := Sources{}
	for _, l := range layers {
		if err := l(c, fields, src); err != nil {
			return src, err
		}
	}
	return src, nil
}

func find[T any](fields []Field[T], key string) (Field[T], bool) {
	for _, f := range fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field[T]{}, false
}

// Map applies key/value pairs from a named source (a parsed file, an MDM
// profile). Unknown keys are errors: a misspelt key must not be ignored.
func Map[T any](name string, values map[string]string) Layer[T] {
	return func(c *T, fields []Field[T], src Sources) error {
		for k, v := range values {
			f, ok := find(fields, k)
			if !ok {
				return fmt.Errorf("config: %s: unknown key %q", name, k)
			}
			if err := f.Set(c, v); err != nil {
				return fmt.Errorf("config: %s (from %s): %w", k, name, err)
			}
			src[k] = name
		}
		return nil
	}
}

// File applies a YAML file; an empty path is no layer.
func File[T any](path string) Layer[T] {
	return func(c *T, fields []Field[T], src Sources) error {
		if path == "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: read %s: %w", path, err)
		}
		values, err := ParseYAML(b)
		if err != nil {
			return fmt.Errorf("config: parse %s: %w", path, err)
		}
		return Map[T]("file "+path, values)(c, fields, src)
	}
}

// ParseYAML flattens a YAML mapping of scalars and scalar lists into
// key → string, the form Field setters take.
func ParseYAML(b []byte) (map[string]string, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		s, err := scalar(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		out[k] = s
	}
	return out, nil
}

func scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := scalar(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		parts := make([]string, 0, len(x))
		for k, e := range x {
			s, err := scalar(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, k+"="+s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("unsupported value %v", v)
}

// Environment applies PREFIX_KEY variables that are set.
func Environment[T any](prefix string, getenv func(string) string) Layer[T] {
	return func(c *T, fields []Field[T], src Sources) error {
		for _, f := range fields {
			name := Env(prefix, f.Key)
			if v := getenv(name); v != "" {
				if err := f.Set(c, v); err != nil {
					return fmt.Errorf("config: %s (from env %s): %w", f.Key, name, err)
				}
				src[f.Key] = "env " + name
			}
		}
		return nil
	}
}

// Flags applies the flags that were set on the command line.
func Flags[T any](fs *flag.FlagSet) Layer[T] {
	return func(c *T, fields []Field[T], src Sources) error {
		var err error
		fs.Visit(func(fl *flag.Flag) {
			for _, f := range fields {
				if Flag(f.Key) == fl.Name && err == nil {
					if e := f.Set(c, fl.Value.String()); e != nil {
						err = fmt.Errorf("config: %s (from flag -%s): %w", f.Key, fl.Name, e)
					}
					src[f.Key] = "flag -" + fl.Name
				}
			}
		})
		return err
	}
}

// ConfigPath is the file named by -config, or by the environment variable.
func ConfigPath(fs *flag.FlagSet, env string, getenv func(string) string) string {
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return getenv(env)
}

// Setters for common value types.

// String sets a string field.
func String[T any](p func(*T) *string) func(*T, string) error {
	return func(c *T, v string) error { *p(c) = v; return nil }
}

// List sets a comma-separated list.
func List[T any](p func(*T) *[]string) func(*T, string) error {
	return func(c *T, v string) error { *p(c) = SplitList(v); return nil }
}

// Duration sets a time.Duration ("90s", "1h").
func Duration[T any](p func(*T) *time.Duration) func(*T, string) error {
	return func(c *T, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 90s or 1h", v)
		}
		*p(c) = d
		return nil
	}
}

// Int sets an int.
func Int[T any](p func(*T) *int) func(*T, string) error {
	return func(c *T, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p(c) = n
		return nil
	}
}

// Pairs sets a map from "k=v,k2=v2".
func Pairs[T any](p func(*T) *map[string]string) func(*T, string) error {
	return func(c *T, v string) error {
		m := map[string]string{}
		for _, kv := range SplitList(v) {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return fmt.Errorf("%q is not key=value", kv)
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		*p(c) = m
		return nil
	}
}

// SplitList splits on commas and drops empty items.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Problems collects validation errors, each naming its key and where the
// value came from, so one run reports every mistake at once.
type Problems struct {
	Sources Sources
	errs    []error
}

// Add records a problem with key.
func (p *Problems) Add(key, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("config: %s (from %s): %s", key, p.Sources.Of(key), fmt.Sprintf(format, args...)))
}

// AbsDir requires a non-empty directory and makes it absolute.
func (p *Problems) AbsDir(key string, dir *string) {
	if *dir == "" {
		p.Add(key, "must not be empty")
	} else if abs, err := filepath.Abs(*dir); err == nil {
		*dir = abs
	}
}

// LogLevel requires one of the slog level names the programs accept.
func (p *Problems) LogLevel(key, level string) {
	switch level {
	case "debug", "info", "warn", "error":
	default:
		p.Add(key, "%q is not one of debug, info, warn, error", level)
	}
}

// Err joins the problems, or is nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }
