package queries

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed pack.yaml checks/*.yaml
var embedded embed.FS

// Platforms a check may target, named as Go's GOOS.
var knownPlatforms = []string{"darwin", "linux", "windows"}

const (
	MinInterval    = 5 * time.Minute
	MaxInterval    = 24 * time.Hour
	DefaultTimeout = 30 * time.Second
)

var (
	idPattern       = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	criteriaPattern = regexp.MustCompile(`^(CC[1-9]\.[0-9]+|A1\.[0-9]+|C1\.[0-9]+|PI1\.[0-9]+)$`)
	semverPattern   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	// A textual check is enough here: the schema test proves each query really
	// returns the column by preparing it against osquery's table definitions.
	compliantPattern = regexp.MustCompile(`(?i)\bas\s+"?compliant"?\b`)
	severities       = []string{"low", "medium", "high", "critical"}
)

// Catalog is a parsed, validated pack of checks.
type Catalog struct {
	Pack   Pack
	Checks []Check // sorted by ID
}

// Pack identifies the catalog version that produced a result.
type Pack struct {
	Name    string
	Version string
}

// Check is one control test; see the package doc for the YAML form.
type Check struct {
	ID          string
	Title       string
	Version     int
	Description string
	Criteria    []string
	Severity    string
	Interval    time.Duration
	Timeout     time.Duration
	PassWhen    string
	Remediation string
	WhenEmpty   Outcome
	Platforms   map[string]Query
}

// Query is a check's SQL for one platform.
type Query struct {
	SQL   string
	Notes string
	// WhenEmpty overrides Check.WhenEmpty on this platform; "" means inherit.
	// It exists because "no rows" can mean different things per OS (a Linux
	// server has no desktop to lock, a Mac always has one).
	WhenEmpty Outcome
}

var loadEmbedded = sync.OnceValues(func() (*Catalog, error) { return Parse(embedded) })

// Load returns the catalog embedded in the binary. Each call returns a fresh
// copy, so callers may modify it without affecting each other.
func Load() (*Catalog, error) {
	c, err := loadEmbedded()
	if err != nil {
		return nil, err
	}
	out := &Catalog{Pack: c.Pack, Checks: make([]Check, len(c.Checks))}
	for i, ch := range c.Checks {
		out.Checks[i] = ch.clone()
	}
	return out, nil
}

// ForPlatform returns the checks that have SQL for goos, specialised by On.
func (c *Catalog) ForPlatform(goos string) []Check {
	var out []Check
	for _, ch := range c.Checks {
		if s, ok := ch.On(goos); ok {
			out = append(out, s)
		}
	}
	return out
}

// Check returns the check with the given id, unspecialised.
func (c *Catalog) Check(id string) (Check, bool) {
	i := slices.IndexFunc(c.Checks, func(ch Check) bool { return ch.ID == id })
	if i < 0 {
		return Check{}, false
	}
	return c.Checks[i].clone(), true
}

// On returns a copy of the check for goos with the platform's when_empty
// override folded into WhenEmpty, so that Evaluate needs no platform argument.
// It reports false if the check has no SQL for goos.
func (c Check) On(goos string) (Check, bool) {
	q, ok := c.Platforms[goos]
	if !ok {
		return Check{}, false
	}
	out := c.clone()
	if q.WhenEmpty != "" {
		out.WhenEmpty = q.WhenEmpty
	}
	return out, true
}

func (c Check) clone() Check {
	c.Criteria = slices.Clone(c.Criteria)
	c.Platforms = maps.Clone(c.Platforms)
	return c
}

// YAML shapes: strings for durations and outcomes so that errors can quote
// what the author wrote.
type packFile struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
}

type checkFile struct {
	ID          string               `yaml:"id"`
	Title       string               `yaml:"title"`
	Version     int                  `yaml:"version"`
	Description string               `yaml:"description"`
	Criteria    []string             `yaml:"criteria"`
	Severity    string               `yaml:"severity"`
	Interval    string               `yaml:"interval"`
	Timeout     string               `yaml:"timeout"`
	PassWhen    string               `yaml:"pass_when"`
	Remediation string               `yaml:"remediation"`
	WhenEmpty   string               `yaml:"when_empty"`
	Platforms   map[string]queryFile `yaml:"platforms"`
}

type queryFile struct {
	SQL       string `yaml:"sql"`
	Notes     string `yaml:"notes"`
	WhenEmpty string `yaml:"when_empty"`
}

// Parse reads and validates pack.yaml and checks/*.yaml from fsys. It reports
// every problem it finds, each prefixed with the file and field.
func Parse(fsys fs.FS) (*Catalog, error) {
	var errs []error
	fail := func(file, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", file, field, fmt.Sprintf(format, args...)))
	}

	var pf packFile
	if err := decodeStrict(fsys, "pack.yaml", &pf); err != nil {
		errs = append(errs, err)
	} else {
		if strings.TrimSpace(pf.Name) == "" {
			fail("pack.yaml", "name", "required")
		}
		if !semverPattern.MatchString(pf.Version) {
			fail("pack.yaml", "version", "%q is not MAJOR.MINOR.PATCH", pf.Version)
		}
	}

	files, err := fs.Glob(fsys, "checks/*.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		errs = append(errs, errors.New("checks/: no *.yaml files"))
	}
	cat := &Catalog{Pack: Pack{Name: pf.Name, Version: pf.Version}}
	seen := map[string]string{} // id -> file
	for _, file := range files {
		var cf checkFile
		if err := decodeStrict(fsys, file, &cf); err != nil {
			errs = append(errs, err)
			continue
		}
		ch, problems := convert(cf)
		for _, p := range problems {
			fail(file, p.field, "%s", p.msg)
		}
		if prev, dup := seen[ch.ID]; dup && ch.ID != "" {
			fail(file, "id", "%q already defined in %s", ch.ID, prev)
		}
		seen[ch.ID] = file
		cat.Checks = append(cat.Checks, ch)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(cat.Checks, func(a, b Check) int { return strings.Compare(a.ID, b.ID) })
	return cat, nil
}

func decodeStrict(fsys fs.FS, file string, v any) error {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty file", file)
		}
		return fmt.Errorf("%s: %w", file, err)
	}
	// A second document would be silently ignored otherwise.
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: more than one YAML document", file)
	}
	return nil
}

type problem struct{ field, msg string }

func convert(cf checkFile) (Check, []problem) {
	var ps []problem
	bad := func(field, format string, args ...any) {
		ps = append(ps, problem{field, fmt.Sprintf(format, args...)})
	}
	required := func(field, v string) {
		if strings.TrimSpace(v) == "" {
			bad(field, "required")
		}
	}

	ch := Check{
		ID: cf.ID, Title: strings.TrimSpace(cf.Title), Version: cf.Version,
		Description: strings.TrimSpace(cf.Description), Criteria: cf.Criteria,
		Severity: cf.Severity, PassWhen: strings.TrimSpace(cf.PassWhen),
		Remediation: strings.TrimSpace(cf.Remediation), WhenEmpty: Outcome(cf.WhenEmpty),
		Platforms: map[string]Query{},
	}

	switch {
	case cf.ID == "":
		bad("id", "required")
	case !idPattern.MatchString(cf.ID):
		bad("id", "%q is not lowercase snake case", cf.ID)
	}
	required("title", cf.Title)
	required("description", cf.Description)
	required("pass_when", cf.PassWhen)
	required("remediation", cf.Remediation)
	if cf.Version < 1 {
		bad("version", "must be >= 1, got %d", cf.Version)
	}
	if !slices.Contains(severities, cf.Severity) {
		bad("severity", "%q is not one of %s", cf.Severity, strings.Join(severities, "|"))
	}

	if len(cf.Criteria) == 0 {
		bad("criteria", "at least one SOC 2 criterion is required")
	}
	for i, c := range cf.Criteria {
		if !criteriaPattern.MatchString(c) {
			bad(fmt.Sprintf("criteria[%d]", i), "%q is not a SOC 2 criterion such as CC6.1", c)
		} else if slices.Index(cf.Criteria, c) < i {
			bad(fmt.Sprintf("criteria[%d]", i), "%q listed twice", c)
		}
	}

	ch.Interval = parseDuration(cf.Interval, "interval", bad)
	if ch.Interval != 0 && (ch.Interval < MinInterval || ch.Interval > MaxInterval) {
		bad("interval", "%s outside %s..%s", ch.Interval, MinInterval, MaxInterval)
	}
	ch.Timeout = DefaultTimeout
	if cf.Timeout != "" {
		if d, err := time.ParseDuration(cf.Timeout); err != nil {
			bad("timeout", "%q is not a duration such as 30s", cf.Timeout)
		} else if d <= 0 {
			bad("timeout", "must be positive, got %s", d)
		} else {
			ch.Timeout = d
		}
	}
	if ch.Interval != 0 && ch.Timeout >= ch.Interval {
		bad("timeout", "%s must be shorter than interval %s", ch.Timeout, ch.Interval)
	}

	if cf.WhenEmpty == "" {
		ch.WhenEmpty = Fail
	} else if !ch.WhenEmpty.valid() {
		bad("when_empty", "%q is not pass|fail|not_applicable", cf.WhenEmpty)
	}

	if len(cf.Platforms) == 0 {
		bad("platforms", "at least one of %s is required", strings.Join(knownPlatforms, ", "))
	}
	for _, goos := range slices.Sorted(maps.Keys(cf.Platforms)) {
		q := cf.Platforms[goos]
		field := "platforms." + goos
		if !slices.Contains(knownPlatforms, goos) {
			bad(field, "unknown platform (want one of %s)", strings.Join(knownPlatforms, ", "))
			continue
		}
		sql := strings.TrimSpace(q.SQL)
		switch {
		case sql == "":
			bad(field+".sql", "required")
		case !compliantPattern.MatchString(sql):
			bad(field+".sql", "must select a %q column (… AS compliant)", CompliantColumn)
		}
		we := Outcome(q.WhenEmpty)
		if we != "" && !we.valid() {
			bad(field+".when_empty", "%q is not pass|fail|not_applicable", q.WhenEmpty)
		}
		ch.Platforms[goos] = Query{SQL: sql, Notes: strings.TrimSpace(q.Notes), WhenEmpty: we}
	}
	return ch, ps
}

func parseDuration(s, field string, bad func(field, format string, args ...any)) time.Duration {
	if s == "" {
		bad(field, "required")
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		bad(field, "%q is not a duration such as 1h or 30m", s)
		return 0
	}
	return d
}
