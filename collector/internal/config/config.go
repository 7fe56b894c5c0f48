package config

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/internal/settings"
)

// Config is everything `fleetproof-collector serve` and its reporting
// subcommands need.
type Config struct {
	DataDir string
	// HTTPListen serves enrollment, health and the API.
	HTTPListen string
	// NATSListen is where the embedded NATS server listens for agents;
	// ignored when NATSURL names an external cluster.
	NATSListen string
	// NATSURL names an external NATS cluster (comma-separated seed URLs)
	// whose servers trust the collector's operator: they include the
	// fragment `fleetproof-collector nats-config` writes.
	NATSURL string
	// NATSCreds is a credentials file for the collector's connection to an
	// external NATS (nats_url); it must be a user of the evidence account.
	// Without it the collector issues its own user from the account key.
	NATSCreds string
	// NATSKeysDir holds the operator and account seeds; empty means
	// DataDir/auth. Every collector on one external cluster must use a
	// copy of the same directory: the cluster trusts exactly one operator.
	NATSKeysDir string
	// NATSAdvertise is the URL agents are told to publish to; derived from
	// NATSListen or NATSURL when empty.
	NATSAdvertise string
	// ClickHouseDSN selects an existing ClickHouse; empty means the
	// collector runs a local clickhouse-server in DataDir.
	ClickHouseDSN    string
	ClickHouseBinary string
	// ClickHouseCluster, when set, runs every DDL statement ON CLUSTER
	// with Replicated engines (one shard, any number of replicas).
	ClickHouseCluster string
	// EnrollSecrets are accepted from agents; several during a rotation.
	EnrollSecrets    []string
	EnrollSecretFile string
	LogLevel         string
	// TLSCert and TLSKey (PEM files) make enrollment HTTPS and the
	// embedded NATS server require TLS; agents then need the CA that
	// signed the certificate (their ca_file) unless it is publicly trusted.
	TLSCert string
	TLSKey  string
	// AllowInsecureHTTP permits plain HTTP enrollment on a non-loopback
	// address (behind a TLS-terminating proxy, say); enroll secrets would
	// otherwise cross the network in the clear.
	AllowInsecureHTTP bool
	StreamMaxAge      time.Duration
	IngestBatch       int
	// RevocationPoll is how often revocations recorded in ClickHouse are
	// applied; a revoked device is cut off within this long.
	RevocationPoll time.Duration
	// RetentionDays keeps evidence this many days (whole months are
	// dropped once they end before the cutoff); 0 keeps everything. The
	// default covers a 12-month SOC 2 Type II period plus margin.
	RetentionDays int

	Sources settings.Sources
}

// EnvPrefix prefixes every environment variable of the collector.
const EnvPrefix = "FLEETPROOF_COLLECTOR_"

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		DataDir:      "/var/lib/fleetproof-collector",
		HTTPListen:   "127.0.0.1:8080",
		NATSListen:   "127.0.0.1:4222",
		LogLevel:     "info",
		StreamMaxAge: 7 * 24 * time.Hour,
		// 2,500 envelopes (~50,000 results) per insert: 250k results/s
		// on 2 cores, against 150-165k at 500, for ~80 MB more RSS under
		// load (make bench).
		IngestBatch:    2500,
		RevocationPoll: 10 * time.Second,
		RetentionDays:  400,
	}
}

type C = Config

// Fields lists every key.
var Fields = []settings.Field[Config]{
	{Key: "data_dir", Help: "directory for NATS and ClickHouse data", Set: settings.String(func(c *C) *string { return &c.DataDir })},
	{Key: "http_listen", Help: "address for enrollment, health and API", Set: settings.String(func(c *C) *string { return &c.HTTPListen })},
	{Key: "nats_listen", Help: "address of the embedded NATS server", Set: settings.String(func(c *C) *string { return &c.NATSListen })},
	{Key: "nats_url", Help: "external NATS cluster URL (disables the embedded server)", Set: settings.String(func(c *C) *string { return &c.NATSURL })},
	{Key: "nats_creds", Help: "credentials file of an evidence-account user for nats_url (default: the collector issues its own)", Set: settings.String(func(c *C) *string { return &c.NATSCreds })},
	{Key: "nats_keys_dir", Help: "NATS operator/account keys (default data_dir/auth); collectors sharing a cluster use copies of one", Set: settings.String(func(c *C) *string { return &c.NATSKeysDir })},
	{Key: "nats_advertise", Help: "NATS URL(s) given to agents at enrollment, comma-separated", Set: settings.String(func(c *C) *string { return &c.NATSAdvertise })},
	{Key: "clickhouse_dsn", Help: "ClickHouse DSN, clickhouse://host:9000/db (empty: run a local server)", Set: settings.String(func(c *C) *string { return &c.ClickHouseDSN })},
	{Key: "clickhouse_cluster", Help: "ClickHouse cluster name for ON CLUSTER DDL with replicated tables", Set: settings.String(func(c *C) *string { return &c.ClickHouseCluster })},
	{Key: "clickhouse_binary", Help: "clickhouse-server binary for the local server", Set: settings.String(func(c *C) *string { return &c.ClickHouseBinary })},
	{Key: "enroll_secrets", Help: "accepted enroll secrets, comma-separated (several during a rotation)", Secret: true, Set: settings.List(func(c *C) *[]string { return &c.EnrollSecrets })},
	{Key: "enroll_secret_file", Help: "file holding enroll secrets, one per line", Set: settings.String(func(c *C) *string { return &c.EnrollSecretFile })},
	{Key: "tls_cert", Help: "PEM certificate for HTTPS and NATS TLS", Set: settings.String(func(c *C) *string { return &c.TLSCert })},
	{Key: "tls_key", Help: "PEM private key for tls_cert", Set: settings.String(func(c *C) *string { return &c.TLSKey })},
	{Key: "allow_insecure_http", Help: "serve plain HTTP on a non-loopback address (behind a TLS proxy)", Set: func(c *C, v string) error {
		b, err := strconv.ParseBool(v)
		c.AllowInsecureHTTP = b
		return err
	}},
	{Key: "log_level", Help: "debug, info, warn or error", Set: settings.String(func(c *C) *string { return &c.LogLevel })},
	{Key: "stream_max_age", Help: "how long raw envelopes stay in JetStream", Set: settings.Duration(func(c *C) *time.Duration { return &c.StreamMaxAge })},
	{Key: "revocation_poll", Help: "how often revocations are applied", Set: settings.Duration(func(c *C) *time.Duration { return &c.RevocationPoll })},
	{Key: "retention_days", Help: "days of evidence to keep (0 = forever)", Set: settings.Int(func(c *C) *int { return &c.RetentionDays })},
	{Key: "ingest_batch", Help: "messages per ingest fetch", Set: settings.Int(func(c *C) *int { return &c.IngestBatch })},
}

// RegisterFlags adds the collector's flags to fs.
func RegisterFlags(fs *flag.FlagSet) { settings.RegisterFlags(fs, Fields) }

// Load merges defaults, the file named by -config (or
// FLEETPROOF_COLLECTOR_CONFIG), the environment and the flags that were
// set, then validates.
func Load(fs *flag.FlagSet, getenv func(string) string) (Config, error) {
	c := Default()
	src, err := settings.Merge(&c, Fields,
		settings.File[Config](settings.ConfigPath(fs, EnvPrefix+"CONFIG", getenv)),
		settings.Environment[Config](EnvPrefix, getenv),
		settings.Flags[Config](fs),
	)
	c.Sources = src
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate checks the merged configuration once.
func (c *Config) Validate() error {
	p := settings.Problems{Sources: c.Sources}
	p.AbsDir("data_dir", &c.DataDir)
	if host, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
		p.Add("http_listen", "%q is not host:port", c.HTTPListen)
	} else if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && c.TLSCert == "" && !c.AllowInsecureHTTP {
		p.Add("http_listen", "%q is reachable from the network but tls_cert is not set: enroll secrets would travel in the clear (set tls_cert/tls_key, or allow_insecure_http behind a TLS proxy)", c.HTTPListen)
	}
	if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
		p.Add("nats_listen", "%q is not host:port", c.NATSListen)
	}
	if c.EnrollSecretFile != "" {
		b, err := os.ReadFile(c.EnrollSecretFile)
		if err != nil {
			p.Add("enroll_secret_file", "%v", err)
		} else {
			// One secret per line, as documented. Not strings.Fields: a
			// secret containing a space would otherwise become several
			// shorter ones, each of them accepted on its own.
			for _, line := range strings.Split(string(b), "\n") {
				if s := strings.TrimSpace(line); s != "" {
					c.EnrollSecrets = append(c.EnrollSecrets, s)
				}
			}
		}
	}
	p.LogLevel("log_level", c.LogLevel)
	if c.StreamMaxAge < time.Hour {
		p.Add("stream_max_age", "%s is below the 1h minimum", c.StreamMaxAge)
	}
	if c.RevocationPoll < 100*time.Millisecond || c.RevocationPoll > time.Hour {
		p.Add("revocation_poll", "%s is outside 100ms..1h", c.RevocationPoll)
	}
	if c.RetentionDays < 0 || (c.RetentionDays > 0 && c.RetentionDays < 90) {
		p.Add("retention_days", "%d: use 0 (keep forever) or at least 90 days; audits cover 3-12 months", c.RetentionDays)
	}
	if c.IngestBatch < 1 || c.IngestBatch > 10000 {
		p.Add("ingest_batch", "%d is outside 1..10000", c.IngestBatch)
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			if err := checkNATSURL(strings.TrimSpace(u)); err != nil {
				p.Add("nats_url", "%v (want nats://host:4222 or tls://host:4222, comma-separated for several servers)", err)
			}
		}
	}
	if c.NATSCreds != "" && c.NATSURL == "" {
		p.Add("nats_creds", "only applies with nats_url: the embedded server issues the collector's own credentials")
	} else if c.NATSCreds != "" {
		if _, err := os.Stat(c.NATSCreds); err != nil {
			p.Add("nats_creds", "%v", err)
		}
	}
	if c.NATSKeysDir != "" {
		p.AbsDir("nats_keys_dir", &c.NATSKeysDir)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		p.Add("tls_cert", "tls_cert and tls_key go together")
	} else if c.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			p.Add("tls_cert", "cannot load the key pair: %v", err)
		}
	}
	if c.ClickHouseCluster != "" && c.ClickHouseDSN == "" {
		p.Add("clickhouse_cluster", "needs clickhouse_dsn: a cluster is never the local managed server")
	}
	if c.ClickHouseDSN != "" && !strings.HasPrefix(c.ClickHouseDSN, "clickhouse://") {
		p.Add("clickhouse_dsn", "want clickhouse://host:port/database (native protocol)")
	}
	return p.Err()
}

// KeysDir is where the NATS operator and account keys live.
func (c *Config) KeysDir() string {
	if c.NATSKeysDir != "" {
		return c.NATSKeysDir
	}
	return filepath.Join(c.DataDir, "auth")
}

// checkNATSURL accepts what nats.go dials: a scheme it knows and a host.
func checkNATSURL(s string) error {
	if s == "" {
		return errors.New("an empty server URL")
	}
	raw := s
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw // nats.go's default scheme
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("%q: scheme %q is not nats, tls, ws or wss", s, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q names no host", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not 1..65535", s, p)
		}
	}
	return nil
}

// ServeRequirements are checked only by serve: reporting commands need no
// enroll secret.
func (c *Config) ServeRequirements() error {
	if len(c.EnrollSecrets) == 0 {
		return fmt.Errorf("config: enroll_secrets (from %s): at least one enroll secret is required to admit agents (flag -enroll-secrets, env %sENROLL_SECRETS, or enroll_secret_file)", c.Sources.Of("enroll_secrets"), EnvPrefix)
	}
	return nil
}
