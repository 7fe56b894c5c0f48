package cli

import (
	"bytes"
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
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/agent/internal/config"
	"github.com/fleetproof/fleetproof/agent/internal/daemon"
	"github.com/fleetproof/fleetproof/agent/internal/engine"
	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osqueryd"
	"github.com/fleetproof/fleetproof/agent/internal/service"
	"github.com/fleetproof/fleetproof/queries"
)

// Version is set at build time with -ldflags.
var Version = "0.1.0-dev"

const usage = `fleetproof-agent runs compliance checks on this device and delivers signed evidence.

Usage:
  fleetproof-agent run-checks [--json]   run every check for this OS once and print the results
  fleetproof-agent query [--engine auto|osquery|builtin] [--socket PATH] SQL
                                         run SQL, print rows as JSON like osqueryi --json
  fleetproof-agent extension --socket PATH [--timeout S --interval S]
                                         serve the agent's tables as an osquery extension
                                         (for osqueryd's --extensions_autoload; name the binary *.ext)
  fleetproof-agent run [--once] [flags]  run checks on schedule and deliver them to the collector
  fleetproof-agent config show [flags]   print the effective configuration and where each value came from
  fleetproof-agent install [-config F]   install the agent as a system service and start it (again: reconfigure)
  fleetproof-agent uninstall [--purge]   stop and remove the service; --purge also deletes the state directory
  fleetproof-agent start|stop|restart    control the installed service
  fleetproof-agent status                print running, stopped or not installed
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
	case "query":
		err = query(ctx, args[1:], stdout, stderr)
	case "extension":
		err = extension(ctx, args[1:], stderr)
	case "install":
		err = install(args[1:], stdout, stderr)
	case "uninstall":
		err = uninstall(args[1:], stdout, stderr)
	case "start", "stop", "restart", "status":
		err = control(args[0], args[1:], stdout, stderr)
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

// openEngine opens the engine the configuration selects for a short-lived
// command: it shares the agent service's osqueryd when one runs. Only
// errors are logged unless log_level is debug, so output stays clean.
func openEngine(ctx context.Context, cfg config.Config, stderr io.Writer) (checks.Engine, io.Closer, error) {
	level := "error"
	if cfg.LogLevel == "debug" {
		level = "debug"
	}
	return engine.Open(ctx, engineOptions(cfg, newLogger(stderr, level), true))
}

func engineOptions(cfg config.Config, log *slog.Logger, shared bool) engine.Options {
	return engine.Options{
		Mode: engine.Mode(cfg.Engine), Socket: cfg.OsquerySocket, OsquerydPath: cfg.OsquerydPath,
		MemoryMB: cfg.OsqueryMemoryMB, StateDir: cfg.StateDir, Version: Version, Logger: log, Shared: shared,
	}
}

func runChecks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("run-checks", stderr)
	asJSON := fs.Bool("json", false, "print results as JSON")
	fs.Bool("once", true, "run each check once (the only mode of run-checks)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	eng, closer, err := openEngine(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	r := &checks.Runner{Engine: eng, Pack: cat.Pack, Platform: runtime.GOOS}
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
	timeout := fs.Duration("timeout", 2*time.Minute, "with -once: how long to keep trying to deliver before leaving results spooled")
	name := serviceNameFlag(fs)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	cat, err := queries.Load()
	if err != nil {
		return err
	}
	// Engine left nil: daemon.Run opens the one the configuration selects.
	opts := daemon.Options{Config: cfg, Catalog: cat, Version: Version, Once: *once, OnceTimeout: *timeout}
	if *once {
		opts.Logger = newLogger(stderr, cfg.LogLevel)
		return daemon.Run(ctx, opts)
	}
	// Long-running: through the service wrapper, which is what a service
	// manager starts and which also serves a terminal (Ctrl-C stops it).
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return service.Run(ctx, service.Options{Name: *name}, level, stderr, func(ctx context.Context, log *slog.Logger) error {
		opts.Logger = log
		return daemon.Run(ctx, opts)
	})
}

// query runs one SQL statement and prints the rows like `osqueryi --json`:
// a JSON array with one object per line, keys sorted, values strings.
func query(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("query", stderr)
	config.RegisterFlags(fs)
	socket := fs.String("socket", "", "extensions socket of a running osqueryd (same as -osquery-socket)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sql := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if sql == "" {
		return errors.New("query: no SQL given (flags go before the SQL)")
	}
	cfg, err := config.Load(fs, os.Getenv)
	if err != nil {
		return err
	}
	if *socket != "" {
		cfg.OsquerySocket = *socket
	}
	eng, closer, err := openEngine(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	rows, err := eng.Query(ctx, sql)
	if err != nil {
		return err
	}
	return writeRows(stdout, rows)
}

func writeRows(w io.Writer, rows []map[string]string) error {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, r := range rows {
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false) // osqueryi prints <, > and & as they are
		if err := enc.Encode(r); err != nil {
			return err
		}
		b.WriteString("  ")
		b.Write(bytes.TrimSuffix(line.Bytes(), []byte("\n")))
		if i < len(rows)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	if len(rows) == 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := w.Write(b.Bytes())
	return err
}

// extension runs the agent as an osquery extension, as osqueryd starts
// autoloaded extensions: <bin> [--verbose] --socket <em> --timeout <s>
// --interval <s>. It waits up to --timeout for osqueryd's socket, serves
// the agent's tables until osqueryd shuts down or goes away, and pings it
// every --interval.
func extension(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flags("extension", stderr)
	socket := fs.String("socket", "", "osqueryd's extensions socket")
	timeout := fs.Float64("timeout", 3, "seconds to wait for osqueryd's socket")
	interval := fs.Float64("interval", 3, "seconds between health checks of osqueryd")
	verbose := fs.Bool("verbose", false, "log debug messages")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *socket == "" {
		return errors.New("extension: --socket is required")
	}
	level := "info"
	if *verbose {
		level = "debug"
	}
	log := newLogger(stderr, level)
	seconds := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	deadline := time.Now().Add(seconds(*timeout))
	for {
		err := osqueryd.Ping(ctx, *socket, 5*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("extension: no osqueryd answering on %s within %gs: %w", *socket, *timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	err := engine.ServeExtension(ctx, *socket, builtin.New(builtin.Options{}), Version,
		osquery.WithPingInterval(seconds(*interval)), osquery.WithLogger(log),
		osquery.OnReady(func(uuid int64) { log.Info("serving agent tables", "socket", *socket, "uuid", uuid) }))
	switch {
	case err == nil, errors.Is(err, osquery.ErrShutdown):
		log.Info("osqueryd shut down; exiting")
		return nil
	case errors.Is(err, osquery.ErrManagerGone):
		log.Info("osqueryd went away; exiting", "err", err)
		return nil
	}
	return err
}

func serviceNameFlag(fs *flag.FlagSet) *string {
	return fs.String("service-name", service.Name, "service name, to run a second agent (staging, tests) beside the default one")
}

// install installs and starts the service. Only -config is recorded in the
// service definition: secrets given as flags would end up in unit files and
// process lists, so they belong in the config file or the MDM profile.
func install(args []string, stdout, stderr io.Writer) error {
	fs := flags("install", stderr)
	configPath := fs.String("config", "", "config file the service reads (recorded in the service definition)")
	name := serviceNameFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	// Load now so a broken configuration fails the install, not every
	// restart of the service afterwards.
	cfg, err := config.Load(fs, os.Getenv)
	if err != nil {
		return err
	}
	if err := cfg.RunRequirements(); err != nil {
		// Not fatal: the MDM profile with the secret often arrives after
		// the package; the service retries until it does.
		fmt.Fprintf(stderr, "warning: the service will not deliver evidence until this is fixed:\n%v\n", err)
	}
	m, err := service.NewManager(service.Options{Name: *name, ConfigPath: *configPath})
	if err != nil {
		return err
	}
	replaced, err := m.Install()
	if err != nil {
		return err
	}
	verb := "installed"
	if replaced {
		verb = "reinstalled"
	}
	fmt.Fprintf(stdout, "%s and started %s (%s)\n", verb, m.Name(), m.Platform())
	return nil
}

func uninstall(args []string, stdout, stderr io.Writer) error {
	fs := flags("uninstall", stderr)
	fs.String("config", "", "config file naming the state directory to purge")
	purge := fs.Bool("purge", false, "also delete the state directory (device key, spool, enrollment)")
	name := serviceNameFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var stateDir string
	if *purge {
		// Resolve the state directory before removing anything, so a
		// configuration error leaves the service as it was.
		cfg, err := config.Load(fs, os.Getenv)
		if err != nil {
			return fmt.Errorf("--purge needs the configuration to find the state directory: %w", err)
		}
		stateDir = cfg.StateDir
	}
	m, err := service.NewManager(service.Options{Name: *name})
	if err != nil {
		return err
	}
	was, err := m.Uninstall()
	if err != nil {
		return err
	}
	if was {
		fmt.Fprintf(stdout, "uninstalled %s\n", m.Name())
	} else {
		fmt.Fprintf(stdout, "%s was not installed\n", m.Name())
	}
	if *purge {
		if err := service.Purge(stateDir); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted state directory %s\n", stateDir)
	}
	return nil
}

func control(action string, args []string, stdout, stderr io.Writer) error {
	fs := flags(action, stderr)
	name := serviceNameFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := service.NewManager(service.Options{Name: *name})
	if err != nil {
		return err
	}
	switch action {
	case "status":
		st, err := m.Status()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, st)
		return nil
	case "start":
		err = m.Start()
	case "stop":
		err = m.Stop()
	case "restart":
		err = m.Restart()
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, m.Name(), err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", m.Name(), map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}[action])
	return nil
}

func configShow(args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(flags("config show", stderr), args)
	if err != nil {
		return err
	}
	values := map[string]string{
		"server_url": cfg.ServerURL, "enroll_secret": cfg.EnrollSecret, "enroll_secret_file": cfg.EnrollSecretFile,
		"state_dir": cfg.StateDir, "log_level": cfg.LogLevel, "ca_file": cfg.CAFile,
		"engine": cfg.Engine, "osquery_socket": cfg.OsquerySocket, "osqueryd_path": cfg.OsquerydPath,
		"osquery_memory_mb": strconv.Itoa(cfg.OsqueryMemoryMB),
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
