package config

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"

	"github.com/fleetproof/fleetproof/agent/internal/mdm"
	"github.com/fleetproof/fleetproof/internal/settings"
)

// Config is the agent's configuration.
type Config struct {
	// ServerURL is the collector's HTTP base URL, used for enrollment.
	ServerURL        string
	EnrollSecret     string
	EnrollSecretFile string
	StateDir         string
	Tags             map[string]string
	LogLevel         string
	// CAFile adds a CA bundle to trust for the collector's certificate,
	// for collectors whose certificate is not publicly trusted.
	CAFile string
	// Engine answers checks: auto (osqueryd when reachable or startable,
	// else built-in), osquery, or builtin.
	Engine string
	// OsquerySocket is the extensions socket of an osqueryd someone else
	// runs; when set the agent never starts its own.
	OsquerySocket string
	// OsquerydPath is the osqueryd binary to supervise; empty searches
	// PATH and osquery's install paths.
	OsquerydPath string
	// OsqueryMemoryMB is the memory ceiling of a supervised osqueryd.
	OsqueryMemoryMB int

	Sources settings.Sources
}

// EnvPrefix prefixes the agent's environment variables.
const EnvPrefix = "FLEETPROOF_"

// DefaultPath is the config file read when -config is not given and it
// exists.
func DefaultPath() string {
	switch runtime.GOOS {
	case "windows":
		return `C:\ProgramData\Fleetproof\agent.yaml`
	case "darwin":
		return "/Library/Application Support/Fleetproof/agent.yaml"
	}
	return "/etc/fleetproof/agent.yaml"
}

// DefaultStateDir is where identity, spool and enrollment live.
func DefaultStateDir() string {
	switch runtime.GOOS {
	case "windows":
		return `C:\ProgramData\Fleetproof\state`
	case "darwin":
		return "/Library/Application Support/Fleetproof/state"
	}
	return "/var/lib/fleetproof"
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{StateDir: DefaultStateDir(), LogLevel: "info", Engine: "auto", OsqueryMemoryMB: 200}
}

type C = Config

// Fields lists every key.
var Fields = []settings.Field[Config]{
	{Key: "server_url", Help: "collector URL for enrollment, e.g. https://fleetproof.example.com", Set: settings.String(func(c *C) *string { return &c.ServerURL })},
	{Key: "enroll_secret", Help: "enroll secret from your MDM", Secret: true, Set: settings.String(func(c *C) *string { return &c.EnrollSecret })},
	{Key: "enroll_secret_file", Help: "file holding the enroll secret", Set: settings.String(func(c *C) *string { return &c.EnrollSecretFile })},
	{Key: "state_dir", Help: "directory for the device key, spool and enrollment", Set: settings.String(func(c *C) *string { return &c.StateDir })},
	{Key: "tags", Help: "device tags, key=value,key=value (e.g. department=eng)", Set: settings.Pairs(func(c *C) *map[string]string { return &c.Tags })},
	{Key: "log_level", Help: "debug, info, warn or error", Set: settings.String(func(c *C) *string { return &c.LogLevel })},
	{Key: "ca_file", Help: "PEM CA bundle to trust for the collector (HTTPS and NATS TLS) besides the system roots", Set: settings.String(func(c *C) *string { return &c.CAFile })},
	{Key: "engine", Help: "query engine: auto (osqueryd when reachable or startable, else built-in), osquery or builtin", Set: settings.String(func(c *C) *string { return &c.Engine })},
	{Key: "osquery_socket", Help: "extensions socket of an osqueryd run by someone else (the agent then never starts one)", Set: settings.String(func(c *C) *string { return &c.OsquerySocket })},
	{Key: "osqueryd_path", Help: "osqueryd binary to run; default: PATH, then osquery's install paths", Set: settings.String(func(c *C) *string { return &c.OsquerydPath })},
	{Key: "osquery_memory_mb", Help: "memory ceiling in MB of the osqueryd the agent runs (watchdog limit and the agent's own check)", Set: settings.Int(func(c *C) *int { return &c.OsqueryMemoryMB })},
}

// RegisterFlags adds the agent's flags to fs.
func RegisterFlags(fs *flag.FlagSet) { settings.RegisterFlags(fs, Fields) }

// readMDM returns the MDM-managed settings of this machine. Tests replace
// it so they never depend on the profiles of the machine they run on.
var readMDM = mdm.Read

// Load merges, lowest first: defaults, MDM-managed settings, the config
// file, the environment and flags. MDM sits below the file so an admin on
// one machine can still override a fleet-wide profile locally while
// debugging; a broken profile is an error, as a broken file is.
func Load(fs *flag.FlagSet, getenv func(string) string) (Config, error) {
	c := Default()
	path := settings.ConfigPath(fs, EnvPrefix+"CONFIG", getenv)
	if path == "" {
		if _, err := os.Stat(DefaultPath()); err == nil {
			path = DefaultPath()
		}
	}
	managed, source, err := readMDM()
	if err != nil {
		return c, fmt.Errorf("config: mdm %s: %w", source, err)
	}
	src, err := settings.Merge(&c, Fields,
		settings.Map[Config]("mdm "+source, managed),
		settings.File[Config](path),
		settings.Environment[Config](EnvPrefix, getenv),
		settings.Flags[Config](fs),
	)
	c.Sources = src
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate checks the merged configuration.
func (c *Config) Validate() error {
	p := settings.Problems{Sources: c.Sources}
	p.AbsDir("state_dir", &c.StateDir)
	if c.ServerURL != "" {
		u, err := url.Parse(c.ServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Add("server_url", "%q is not an http(s) URL", c.ServerURL)
		}
	}
	if c.EnrollSecretFile != "" {
		b, err := os.ReadFile(c.EnrollSecretFile)
		if err != nil {
			p.Add("enroll_secret_file", "%v", err)
		} else {
			c.EnrollSecret = strings.TrimSpace(string(b))
		}
	}
	if c.CAFile != "" {
		if _, err := c.RootCAs(); err != nil {
			p.Add("ca_file", "%v", err)
		}
	}
	switch c.Engine {
	case "auto", "osquery", "builtin":
	default:
		p.Add("engine", "%q is not one of auto, osquery, builtin", c.Engine)
	}
	if c.OsqueryMemoryMB < 50 {
		p.Add("osquery_memory_mb", "%d is below 50, too little for osqueryd to run", c.OsqueryMemoryMB)
	}
	p.LogLevel("log_level", c.LogLevel)
	return p.Err()
}

// RunRequirements are needed to deliver evidence (not to run checks locally).
func (c *Config) RunRequirements() error {
	var errs []error
	if c.ServerURL == "" {
		errs = append(errs, fmt.Errorf("config: server_url is required to deliver evidence (flag -server-url, env %sSERVER_URL, %s, or the MDM profile)", EnvPrefix, DefaultPath()))
	}
	if c.EnrollSecret == "" {
		errs = append(errs, fmt.Errorf("config: enroll_secret is required to enroll (flag -enroll-secret, env %sENROLL_SECRET, or enroll_secret_file)", EnvPrefix))
	}
	return errors.Join(errs...)
}

// RootCAs returns the system roots plus CAFile's certificates; nil when no
// CAFile is set (use the system roots).
func (c *Config) RootCAs() (*x509.CertPool, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", c.CAFile)
	}
	return pool, nil
}
