package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/posture"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// Version is set at build time with -ldflags.
var Version = "0.1.0-dev"

const usage = `fleetproof-collector turns agents' signed check results into stored evidence.

Usage:
  fleetproof-collector serve   [flags]   run NATS, ingest and the HTTP endpoints
  fleetproof-collector posture [flags]   latest status per device and check as of a time
  fleetproof-collector revoke -device ID -reason TEXT [-by NAME] [flags]
                                         cut a device off: its NATS credentials stop working
                                         within revocation_poll and it cannot re-enroll
  fleetproof-collector version

Run "fleetproof-collector COMMAND -h" for a command's flags.
`

// Run executes the command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stderr)
	case "posture":
		err = runPosture(ctx, args[1:], stdout, stderr)
	case "revoke":
		err = runRevoke(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "fleetproof-collector", Version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "fleetproof-collector: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "fleetproof-collector:", err)
		return 1
	}
	return 0
}

func loadConfig(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("fleetproof-collector "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, nil, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	cfg, err := config.Load(fs, os.Getenv)
	return cfg, fs, err
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, _, err := loadConfig("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	return serve.Run(ctx, cfg, newLogger(stderr, cfg.LogLevel), nil)
}

func runPosture(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var at, format string
	var stale int
	cfg, _, err := loadConfig("posture", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&at, "at", "", "instant to report on: RFC 3339, or a date meaning the end of that day (UTC); default now")
		fs.StringVar(&format, "format", "table", "output format: "+strings.Join(posture.Formats, ", "))
		fs.IntVar(&stale, "stale-after", 3, "a result older than this many check intervals counts as unknown")
	})
	if err != nil {
		return err
	}
	when := time.Now()
	if at != "" {
		if when, err = parseTime(at); err != nil {
			return fmt.Errorf("posture: -at: %w", err)
		}
	}
	if !validFormat(format) {
		return fmt.Errorf("posture: -format %q: want one of %s", format, strings.Join(posture.Formats, ", "))
	}
	log := newLogger(stderr, cfg.LogLevel)
	dsn, err := resolveDSN(cfg)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dsn, log, store.WithCluster(cfg.ClickHouseCluster))
	if err != nil {
		return fmt.Errorf("posture: %w", err)
	}
	defer st.Close()
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	devices, err := st.Devices(ctx)
	if err != nil {
		return fmt.Errorf("posture: %w", err)
	}
	latest, err := st.LatestResults(ctx, when)
	if err != nil {
		return fmt.Errorf("posture: %w", err)
	}
	rep := posture.Build(when, devices, latest, cat, posture.Options{StaleAfter: stale})
	return rep.Write(stdout, format)
}

func runRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var device, reason, by string
	cfg, _, err := loadConfig("revoke", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&device, "device", "", "device id to revoke")
		fs.StringVar(&reason, "reason", "", "why (kept as evidence)")
		fs.StringVar(&by, "by", os.Getenv("USER"), "who revokes (kept as evidence)")
	})
	if err != nil {
		return err
	}
	if device == "" || reason == "" {
		return errors.New("revoke: -device and -reason are required")
	}
	dsn, err := resolveDSN(cfg)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dsn, newLogger(stderr, cfg.LogLevel), store.WithCluster(cfg.ClickHouseCluster))
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	defer st.Close()
	d, err := st.Device(ctx, device)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if err := st.Revoke(ctx, store.Revocation{DeviceID: d.DeviceID, PublicKey: d.PublicKey, RevokedAt: time.Now().UTC(),
		Reason: reason, RevokedBy: by}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (%s); running collectors apply it within %s\n", d.DeviceID, d.Hostname, cfg.RevocationPoll)
	return nil
}

func validFormat(f string) bool {
	for _, ok := range posture.Formats {
		if f == ok {
			return true
		}
	}
	return false
}

// resolveDSN finds ClickHouse: the configured DSN, or the one a running
// `serve` recorded in the data dir.
func resolveDSN(cfg config.Config) (string, error) {
	if cfg.ClickHouseDSN != "" {
		return cfg.ClickHouseDSN, nil
	}
	info, err := serve.ReadState(cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("no ClickHouse to read from: pass -clickhouse-dsn, or run `fleetproof-collector serve -data-dir %s` (it records its endpoints in %s): %w",
			cfg.DataDir, filepath.Join(cfg.DataDir, serve.StateFile), err)
	}
	return info.ClickHouseDSN, nil
}

// parseTime reads an instant. A bare date means the end of that day (UTC):
// "posture on 2026-06-30" includes what was observed that day.
func parseTime(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.UTC); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 (2006-01-02T15:04:05Z) or a date (2006-01-02, meaning its end)", s)
}
