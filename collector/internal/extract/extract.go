package extract

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/queries"
)

// Options say what to extract.
type Options struct {
	// Controls are SOC 2 criteria such as CC6.1; every check of the
	// catalog that lists one of them is extracted.
	Controls []string
	// From and To are the first and last day of the period (UTC dates;
	// the time of day is ignored). Both days are included.
	From, To time.Time
	// SampleSize devices are drawn with Seed. evidence.csv holds every
	// result of the sampled devices.
	SampleSize int
	Seed       uint64
	// AllResults puts every result of every device in evidence.csv, not
	// only the sample's: a quarter of one control on 10,000 devices with
	// hourly checks is 43M rows, minutes to read and tens of GB.
	AllResults bool
	// GeneratedAt overrides the derived generated_at (see GeneratedAtRule).
	GeneratedAt time.Time
	// InventorySnapshot names the inventory snapshot to reconcile with;
	// empty picks one (see buildPopulation).
	InventorySnapshot string
	Catalog           *queries.Catalog
	Key               ed25519.PrivateKey
	// Version is the generator's version, recorded in the manifest.
	Version string
	// Progress, if set, receives rows written per file every
	// ProgressEvery rows (100,000 when zero) and when each file is done.
	Progress      io.Writer
	ProgressEvery int
}

// GeneratedAtRule is how generated_at is chosen unless the caller sets it.
const GeneratedAtRule = "the newest instant of the data included (results' received_at in evidence.csv, the last observation in evidence_daily.csv, devices' updated_at, " +
	"revocations, exceptions' creation and revocation, the inventory snapshot's import), truncated to the second; " +
	"the last second of the period when there is no data; never the wall clock, so the same data gives the same bundle"

// writer carries one extract's state.
type writer struct {
	src        Source
	opts       Options
	dir        string // the staging directory being filled
	start, end time.Time
	checks     []queries.Check
	book       *workbook
	progress   *progress
	hostnames  map[string]string
	newest     time.Time
	files      map[string]int // data rows per CSV
	tallies    map[DeviceCheck]*tally
	tables     []*table
	// dailyInBook is whether evidence_daily is also a worksheet.
	dailyInBook bool
}

func (w *writer) seen(t time.Time) {
	if t.Unix() > 0 && t.After(w.newest) {
		w.newest = t
	}
}

// ChecksFor returns the catalog's checks that evidence any of controls,
// or an error naming the controls no check evidences.
func ChecksFor(cat *queries.Catalog, controls []string) ([]queries.Check, error) {
	var out []queries.Check
	var unknown []string
	known := map[string]bool{}
	for _, c := range cat.Checks {
		for _, cr := range c.Criteria {
			known[cr] = true
		}
	}
	for _, ctl := range controls {
		if !known[ctl] {
			unknown = append(unknown, ctl)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("extract: no check evidences %s (controls with checks: %s)",
			strings.Join(unknown, ", "), strings.Join(sortedKeys(known), ", "))
	}
	for _, c := range cat.Checks {
		if slices.ContainsFunc(c.Criteria, func(cr string) bool { return slices.Contains(controls, cr) }) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Write extracts into dir, which must not exist or be empty. The bundle is
// assembled in a sibling directory and renamed into place at the end, so
// dir never holds a partial bundle that could pass for a whole one.
func Write(ctx context.Context, dir string, src Source, o Options) (*Manifest, error) {
	if len(o.Controls) == 0 {
		return nil, errors.New("extract: no controls given")
	}
	if o.Catalog == nil || o.Key == nil {
		return nil, errors.New("extract: a catalog and a signing key are required")
	}
	o.Controls = slices.Compact(slices.Sorted(slices.Values(o.Controls)))
	start := o.From.UTC().Truncate(24 * time.Hour)
	last := o.To.UTC().Truncate(24 * time.Hour)
	if last.Before(start) {
		return nil, fmt.Errorf("extract: the period ends (%s) before it starts (%s)", last.Format(time.DateOnly), start.Format(time.DateOnly))
	}
	checks, err := ChecksFor(o.Catalog, o.Controls)
	if err != nil {
		return nil, err
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100_000
	}
	staging, work, err := prepare(dir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	defer os.RemoveAll(staging) // a no-op after the final rename
	book, err := newWorkbook(work)
	if err != nil {
		return nil, err
	}
	defer book.close()
	w := &writer{src: src, opts: o, dir: staging, start: start, end: last.AddDate(0, 0, 1), checks: checks, book: book,
		progress: &progress{w: o.Progress, every: o.ProgressEvery}, hostnames: map[string]string{},
		files: map[string]int{}, tallies: map[DeviceCheck]*tally{}}
	m, err := w.run(ctx)
	for _, t := range w.tables {
		t.abort()
	}
	if err != nil {
		return nil, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("extract: %w", err)
	}
	if err := os.Rename(staging, dir); err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	return m, nil
}

// prepare checks dir and makes the staging and scratch directories next
// to it (same file system, so the final rename is atomic).
func prepare(dir string) (staging, work string, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return "", "", fmt.Errorf("extract: %s is not empty; give a new or empty directory", dir)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("extract: %w", err)
	}
	parent, base := filepath.Dir(filepath.Clean(dir)), filepath.Base(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", "", fmt.Errorf("extract: %w", err)
	}
	if staging, err = os.MkdirTemp(parent, "."+base+".partial-"); err != nil {
		return "", "", fmt.Errorf("extract: %w", err)
	}
	if work, err = os.MkdirTemp(parent, "."+base+".work-"); err != nil {
		os.RemoveAll(staging)
		return "", "", fmt.Errorf("extract: %w", err)
	}
	return staging, work, nil
}

func (w *writer) run(ctx context.Context) (*Manifest, error) {
	pop, err := w.buildPopulation(ctx)
	if err != nil {
		return nil, err
	}
	if err := w.writePopulation(pop); err != nil {
		return nil, err
	}
	sample := Sample(pop.frame, w.opts.SampleSize, w.opts.Seed)
	if err := w.writeDaily(ctx, pop); err != nil {
		return nil, err
	}
	if err := w.writeEvidence(ctx, sample); err != nil {
		return nil, err
	}
	exc, err := w.loadExceptions(ctx)
	if err != nil {
		return nil, err
	}
	// Everything that dates the data has been read (gaps carry no
	// receipt time), so generated_at is known from here on.
	generated, rule := w.opts.GeneratedAt.UTC(), "set explicitly when the extract was made"
	if generated.IsZero() {
		generated, rule = w.newest.UTC().Truncate(time.Second), GeneratedAtRule
		if generated.IsZero() {
			generated = w.end.Add(-time.Second)
		}
	}
	period, controls, err := w.periodCompliance(ctx, pop, exc, generated)
	if err != nil {
		return nil, err
	}
	if err := w.writeCompliance(pop, exc, period); err != nil {
		return nil, err
	}
	if err := w.writeExceptions(exc); err != nil {
		return nil, err
	}
	if err := w.writeGaps(ctx); err != nil {
		return nil, err
	}
	if err := w.writeSample(pop, sample); err != nil {
		return nil, err
	}

	if err := w.book.save(filepath.Join(w.dir, WorkbookFile), generated); err != nil {
		return nil, err
	}
	inBook := w.files[DailyFile]
	if !w.dailyInBook {
		inBook = 0
	}
	w.progress.done(WorkbookFile, w.files[PopulationFile]+inBook+w.files[EvidenceFile]+w.files[ComplianceFile]+
		w.files[ExceptionsFile]+w.files[GapsFile]+w.files[SampleFile])

	pub := w.opts.Key.Public().(ed25519.PublicKey)
	m := &Manifest{
		Format: FormatVersion, GeneratedAt: generated, GeneratedAtRule: rule,
		Generator: Generator{Name: "fleetproof-collector", Version: w.opts.Version, Pack: w.opts.Catalog.Pack.Name,
			PackVersion: w.opts.Catalog.Pack.Version},
		Controls: w.opts.Controls,
		Period: Period{From: w.start.Format(time.DateOnly), To: w.end.AddDate(0, 0, -1).Format(time.DateOnly),
			Start: w.start, EndExclusive: w.end, TimeZone: "UTC"},
		Sample: SampleInfo{Size: len(sample), Requested: w.opts.SampleSize, FrameSize: len(pop.frame),
			Seed: w.opts.Seed, Algorithm: SampleAlgorithm},
		Inventory:  pop.Inventory,
		Compliance: derivedMethod + "\n\n" + periodMethod + compliance.Method,
		SigningKey: SigningKeyFor(pub),
	}
	for _, c := range w.checks {
		m.Checks = append(m.Checks, ManifestCheck{ID: c.ID, Version: c.Version, Criteria: c.Criteria})
	}
	// The README lists the data files' hashes, so it is written after
	// them and hashed last; the manifest lists them all by name.
	for _, n := range []string{PopulationFile, DailyFile, EvidenceFile, ComplianceFile, ExceptionsFile, GapsFile, SampleFile, WorkbookFile, ReadmeFile} {
		if n == ReadmeFile {
			if err := w.writeReadme(m, pop, exc, controls); err != nil {
				return nil, err
			}
		}
		size, sum, err := hashFile(filepath.Join(w.dir, n))
		if err != nil {
			return nil, fmt.Errorf("extract: %w", err)
		}
		e := FileEntry{Name: n, Size: size, SHA256: sum}
		if rows, ok := w.files[n]; ok {
			e.Rows = &rows
		}
		m.Files = append(m.Files, e)
	}
	slices.SortFunc(m.Files, func(a, b FileEntry) int { return strings.Compare(a.Name, b.Name) })
	if err := writeSigned(w.dir, m, w.opts.Key); err != nil {
		return nil, err
	}
	return m, nil
}
