package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"text/tabwriter"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/agent/internal/config"
	"github.com/fleetproof/fleetproof/agent/internal/daemon"
	"github.com/fleetproof/fleetproof/queries"
)

// Version is set at build time with -ldflags.
var Version = "0.1.0-dev"

const usage = `fleetproof-agent runs compliance checks on this device and delivers signed evidence.

Usage:
  fleetproof-agent run-checks [--json]   run every check for this OS once and print the results
  fleetproof-agent run [--once] [flags]  run checks on schedule and deliver them to the collector
  fleetproof-agent config show [flags]   print the effective configuration and where each value came from
  fleetproof-agent version

Run "fleetproof-agent COMMAND -h" for a command's flags.
`

// Run executes the command line and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run-checks":
		err = runChecks(ctx, args[1:], stdout, stderr)
	case "run":
		err = run(ctx, args[1:], stderr)
	case "config":
		if len(args) < 2 || args[1] != "show" {
			fmt.Fprintln(stderr, "fleetproof-agent: usage: fleetproof-agent config show [flags]")
			return 2
		}
		err = configShow(args[2:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "fleetproof-agent", Version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "fleetproof-agent: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "fleetproof-agent:", err)
		return 1
	}
	return 0
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("fleetproof-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// engine returns the engine that answers checks. Only the built-in engine
// exists so far; the osqueryd path comes with the extension client.
func engine() checks.Engine { return builtin.New(builtin.Options{}) }

func runChecks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("run-checks", stderr)
	asJSON := fs.Bool("json", false, "print results as JSON")
	fs.Bool("once", true, "run each check once (the only mode of run-checks)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	r := &checks.Runner{Engine: engine(), Pack: cat.Pack, Platform: runtime.GOOS}
	res := r.RunAll(ctx, cat)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tMS\tDETAIL")
	for _, x := range res {
		detail := x.Reason
		if x.Error != "" {
			detail = x.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", x.CheckID, x.Status, x.DurationMS, detail)
	}
	return tw.Flush()
}

func loadConfig(fs *flag.FlagSet, args []string) (config.Config, error) {
	config.RegisterFlags(fs)
	if err := parse(fs, args); err != nil {
		return config.Config{}, err
	}
	return config.Load(fs, os.Getenv)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flags("run", stderr)
	once := fs.Bool("once", false, "run every check once, deliver, and exit")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	return daemon.Run(ctx, daemon.Options{
		Config: cfg, Engine: engine(), Catalog: cat, Logger: newLogger(stderr, cfg.LogLevel),
		Version: Version, Once: *once,
	})
}

func configShow(args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(flags("config show", stderr), args)
	if err != nil {
		return err
	}
	values := map[string]string{
		"server_url": cfg.ServerURL, "enroll_secret": cfg.EnrollSecret, "enroll_secret_file": cfg.EnrollSecretFile,
		"state_dir": cfg.StateDir, "log_level": cfg.LogLevel,
	}
	var tags []string
	for k, v := range cfg.Tags {
		tags = append(tags, k+"="+v)
	}
	sort.Strings(tags)
	values["tags"] = fmt.Sprint(tags)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, f := range config.Fields {
		v := values[f.Key]
		if f.Secret && v != "" {
			v = "(redacted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Key, v, cfg.Sources.Of(f.Key))
	}
	return tw.Flush()
}

