package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/internal/settings"
	"github.com/fleetproof/fleetproof/queries"
)

func init() {
	register(command{name: "extract", order: 30, run: runExtract,
		summary: "extract -controls CC6.1,... -from DAY -to DAY -out DIR [-sample N -seed S -all-results]   signed evidence bundle for auditors"})
	register(command{name: "extract-key", order: 31, run: runExtractKey,
		summary: "extract-key   fingerprint and public key that sign extracts (give the fingerprint to auditors)"})
}

func runExtract(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var controls, from, to, out, generatedAt, snapshot string
	var sample, every int
	var seed uint64
	var all bool
	cfg, fs, err := loadConfig("extract", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&controls, "controls", "", "SOC 2 controls, comma-separated (e.g. CC6.1,CC7.1)")
		fs.StringVar(&from, "from", "", "first day of the audit period, YYYY-MM-DD (UTC, included)")
		fs.StringVar(&to, "to", "", "last day of the audit period, YYYY-MM-DD (UTC, included)")
		fs.StringVar(&out, "out", "", "directory to create the bundle in (must not exist, or be empty)")
		fs.IntVar(&sample, "sample", 25, "devices to draw for sample.csv; evidence.csv lists their every result")
		fs.BoolVar(&all, "all-results", false, "list every result of every device in evidence.csv, not only the sample's (slow and large for a big fleet: 43M rows for a quarter of 10,000 devices' hourly checks)")
		fs.Uint64Var(&seed, "seed", 0, "sample seed; default: derived from the controls and period (recorded either way)")
		fs.StringVar(&generatedAt, "generated-at", "", "RFC 3339 instant to record as generated_at; default: the newest data included")
		fs.StringVar(&snapshot, "inventory", "", "inventory snapshot id to reconcile with; default: the newest imported by the period's end")
		fs.IntVar(&every, "progress-every", 100_000, "report progress on stderr every this many rows")
	})
	if err != nil {
		return err
	}
	o := extract.Options{Controls: settings.SplitList(controls), SampleSize: sample, InventorySnapshot: snapshot,
		AllResults: all, Version: Version, Progress: stderr, ProgressEvery: every}
	if len(o.Controls) == 0 || from == "" || to == "" || out == "" {
		return errors.New("extract: -controls, -from, -to and -out are required")
	}
	if sample < 0 {
		return errors.New("extract: -sample must not be negative")
	}
	if o.From, err = time.ParseInLocation(time.DateOnly, from, time.UTC); err != nil {
		return fmt.Errorf("extract: -from %q: want YYYY-MM-DD", from)
	}
	if o.To, err = time.ParseInLocation(time.DateOnly, to, time.UTC); err != nil {
		return fmt.Errorf("extract: -to %q: want YYYY-MM-DD", to)
	}
	o.Seed = extract.DefaultSeed(o.Controls, from, to)
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			o.Seed = seed
		}
	})
	if generatedAt != "" {
		if o.GeneratedAt, err = time.Parse(time.RFC3339, generatedAt); err != nil {
			return fmt.Errorf("extract: -generated-at %q: want RFC 3339", generatedAt)
		}
	}
	if o.Catalog, err = queries.Load(); err != nil {
		return err
	}
	// Checked before the key and the store: a typo should neither create
	// a key nor wait for ClickHouse.
	if _, err := extract.ChecksFor(o.Catalog, o.Controls); err != nil {
		return err
	}
	if o.Key, err = extract.LoadOrCreateKey(filepath.Join(cfg.DataDir, extract.KeyFile)); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer st.Close()
	m, err := extract.Write(ctx, out, st, o)
	if err != nil {
		return err
	}
	var ids []string
	for _, c := range m.Checks {
		ids = append(ids, c.ID)
	}
	fmt.Fprintf(stdout, "wrote %s: %s, %s to %s, checks %s; sample %d of %d (seed %d)\nsigned by %s; check with: fleetproof-collector verify -key %s %s\n",
		out, strings.Join(m.Controls, ","), m.Period.From, m.Period.To, strings.Join(ids, ","), m.Sample.Size, m.Sample.FrameSize,
		m.Sample.Seed, m.SigningKey.Fingerprint, m.SigningKey.Fingerprint, out)
	return nil
}

// runExtractKey prints the signing key, creating it if needed, so the
// operator can hand the fingerprint to the auditor before any extract.
func runExtractKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("extract-key", args, stderr, nil)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, extract.KeyFile)
	key, err := extract.LoadOrCreateKey(path)
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	fmt.Fprintf(stdout, "%s\n\n%s", extract.Fingerprint(pub), extract.PublicKeyPEM(pub))
	fmt.Fprintf(stderr, "key file: %s\n", path)
	return nil
}
