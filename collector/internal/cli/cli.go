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
	"sort"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// Version is set at build time with -ldflags.
var Version = "0.1.0-dev"

// command is one subcommand. Each lives in its own file and registers
// itself in init, so adding a command never edits a shared switch.
type command struct {
	name    string
	summary string // one line for the usage text, after the name and flags
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	order   int // position in the usage text
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func usage() string {
	var b strings.Builder
	b.WriteString("fleetproof-collector turns agents' signed check results into stored evidence.\n\nUsage:\n")
	list := make([]command, 0, len(commands))
	for _, c := range commands {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].order != list[j].order {
			return list[i].order < list[j].order
		}
		return list[i].name < list[j].name
	})
	for _, c := range list {
		fmt.Fprintf(&b, "  fleetproof-collector %s\n", c.summary)
	}
	b.WriteString("  fleetproof-collector version\n\nRun \"fleetproof-collector COMMAND -h\" for a command's flags.\n")
	return b.String()
}

// Run executes the command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	var err error
	switch c, ok := commands[args[0]]; {
	case ok:
		err = c.run(ctx, args[1:], stdout, stderr)
	case args[0] == "version" || args[0] == "-version" || args[0] == "--version":
		fmt.Fprintln(stdout, "fleetproof-collector", Version)
	case args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		fmt.Fprint(stdout, usage())
	default:
		fmt.Fprintf(stderr, "fleetproof-collector: unknown command %q\n\n%s", args[0], usage())
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

// openStore opens the collector's ClickHouse for a reporting command.
func openStore(ctx context.Context, cfg config.Config, stderr io.Writer) (*store.Store, error) {
	dsn, err := resolveDSN(cfg)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn, newLogger(stderr, cfg.LogLevel), store.WithCluster(cfg.ClickHouseCluster))
	if err != nil {
		return nil, err
	}
	return st, nil
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
func parseTime(s string) (time.Time, error) { return compliance.ParseInstant(s) }
