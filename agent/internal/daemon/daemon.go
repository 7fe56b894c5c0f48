package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetproof/fleetproof/agent/internal/checks"
	"github.com/fleetproof/fleetproof/agent/internal/config"
	"github.com/fleetproof/fleetproof/agent/internal/engine"
	"github.com/fleetproof/fleetproof/agent/internal/enroll"
	"github.com/fleetproof/fleetproof/agent/internal/hostfacts"
	"github.com/fleetproof/fleetproof/agent/internal/identity"
	"github.com/fleetproof/fleetproof/agent/internal/publish"
	"github.com/fleetproof/fleetproof/agent/internal/spool"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

// SpoolFile is the spool's file in the state directory.
const SpoolFile = "spool.db"

// Options configure Run.
type Options struct {
	Config config.Config
	// Engine answers the checks; nil opens the one the configuration
	// selects (engine.Open: osqueryd, supervised if need be, or built-in)
	// and closes it, stopping a supervised osqueryd, when Run returns.
	Engine  checks.Engine
	Catalog *queries.Catalog
	Logger  *slog.Logger
	Version string
	// Once runs every check one time, delivers, and returns.
	Once bool
	// OnceTimeout bounds delivery in Once mode.
	OnceTimeout time.Duration
	// HeartbeatEvery is how often a heartbeat is queued; 5m when zero.
	HeartbeatEvery time.Duration
}

// Run runs the agent until ctx ends (or, with Once, until delivered).
func Run(ctx context.Context, o Options) error {
	if err := o.Config.RunRequirements(); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HeartbeatEvery == 0 {
		o.HeartbeatEvery = 5 * time.Minute
	}
	if o.OnceTimeout == 0 {
		o.OnceTimeout = 2 * time.Minute
	}
	log := o.Logger
	cfg := o.Config
	facts := hostfacts.Collect(ctx)
	id, err := identity.LoadOrCreate(cfg.StateDir, facts.HardwareUUID)
	if err != nil {
		return err
	}
	log = log.With("device_id", id.DeviceID)
	sp, err := spool.Open(spool.Options{Path: filepath.Join(cfg.StateDir, SpoolFile), Logger: log})
	if err != nil {
		return err
	}
	defer sp.Close()

	if o.Engine == nil {
		eng, closer, err := engine.Open(ctx, engine.Options{
			Mode: engine.Mode(cfg.Engine), Socket: cfg.OsquerySocket, OsquerydPath: cfg.OsquerydPath,
			MemoryMB: cfg.OsqueryMemoryMB, StateDir: cfg.StateDir, Version: o.Version, Logger: log,
		})
		if err != nil {
			return err
		}
		defer closer.Close()
		o.Engine = eng
	}
	runner := &checks.Runner{Engine: o.Engine, Pack: o.Catalog.Pack, Platform: runtime.GOOS}
	applicable := runner.Applicable(o.Catalog)
	log.Info("agent starting", "version", o.Version, "checks", len(applicable), "engine", o.Engine.Name(), "once", o.Once)

	// In Once mode results are spooled before enrolling, so a collector
	// that is down still leaves the evidence on disk for the next run.
	if o.Once {
		res := runner.RunAll(ctx, o.Catalog)
		if err := sp.Append(res...); err != nil {
			return err
		}
		if err := sp.SetHeartbeat(heartbeat(facts, sp, len(applicable))); err != nil {
			return err
		}
	}

	roots, err := cfg.RootCAs()
	if err != nil {
		return fmt.Errorf("agent: ca_file: %w", err)
	}
	httpClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	st, err := ensureEnrolled(ctx, cfg, httpClient, id, facts, o.Version, log, !o.Once)
	if err != nil {
		return err
	}
	nopts := natsOptions(id, st.Response)
	if roots != nil {
		nopts = append(nopts, nats.Secure(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(strings.Join(st.Response.NATSURLs, ","), nopts...)
	if err != nil {
		return fmt.Errorf("agent: connect %v: %w", st.Response.NATSURLs, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("agent: jetstream: %w", err)
	}
	pub := &publish.Publisher{
		Spool: sp, JS: js, Signer: id, Logger: log,
		Template: evidence.Envelope{Schema: evidence.SchemaVersion, DeviceID: id.DeviceID, AgentVersion: o.Version},
	}
	if o.Once {
		return deliverOnce(ctx, pub, sp, o.OnceTimeout, log)
	}

	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pub.Run(ctx, wake, 30*time.Second)
	}()
	// The agent idles between hourly checks on every laptop: a soft memory
	// limit and returning freed pages after each batch keep its resident
	// set near the binary's own size instead of a check cycle's peak.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(12 << 20)
	}
	schedule(ctx, applicable, runner, o.HeartbeatEvery, func(results []evidence.Result) {
		defer debug.FreeOSMemory()
		if len(results) > 0 {
			if err := sp.Append(results...); err != nil {
				log.Error("spooling results failed", "err", err)
			}
		} else if err := sp.SetHeartbeat(heartbeat(facts, sp, len(applicable))); err != nil {
			log.Error("spooling heartbeat failed", "err", err)
		}
		poke()
	})
	<-done
	// One last bounded attempt, so a clean stop leaves little behind.
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := pub.Flush(fctx); err != nil {
		log.Info("stopped with results still spooled; they are delivered on the next start", "sent", n, "pending", sp.Stats().Pending)
	}
	log.Info("agent stopped")
	return nil
}

func heartbeat(f evidence.HostFacts, sp *spool.Spool, checks int) evidence.Heartbeat {
	h := evidence.Heartbeat{ObservedAt: time.Now().UTC(), Hostname: f.Hostname, ChecksKnown: checks}
	st := sp.Stats()
	h.SpoolDepth = st.Pending + st.SealedResults
	if f.BootTime > 0 {
		h.UptimeS = time.Now().Unix() - f.BootTime
	}
	return h
}

func deliverOnce(parent context.Context, pub *publish.Publisher, sp *spool.Spool, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	backoff := 200 * time.Millisecond
	for {
		n, err := pub.Flush(ctx)
		if err == nil {
			log.Info("delivered", "envelopes", n)
			return nil
		}
		if ctx.Err() != nil {
			s := sp.Stats()
			why := fmt.Sprintf("not delivered within %s", timeout)
			if parent.Err() != nil {
				why = "interrupted"
			}
			return fmt.Errorf("agent: %s; %d results stay spooled for the next run: %w", why, s.Pending+s.SealedResults, err)
		}
		log.Warn("delivery failed; retrying", "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// ensureEnrolled enrolls at every start, so a collector whose NATS address
// changed hands out the new one, and falls back to the saved enrollment
// when the collector cannot be reached or refuses (a rotated enroll secret
// must not cut off devices already enrolled). With no saved enrollment it
// keeps trying through outages when retry is set; a rejection is final.
func ensureEnrolled(ctx context.Context, cfg config.Config, client *http.Client, id *identity.Identity, facts evidence.HostFacts, version string, log *slog.Logger, retry bool) (enroll.State, error) {
	st, ok, err := enroll.Load(cfg.StateDir)
	if err != nil {
		return st, err
	}
	saved := ok && st.ServerURL == cfg.ServerURL && st.PublicKey == id.PublicKey() && st.Response.DeviceID == id.DeviceID
	req := evidence.EnrollRequest{
		Schema: evidence.SchemaVersion, Secret: cfg.EnrollSecret, DeviceID: id.DeviceID,
		PublicKey: id.PublicKey(), AgentVersion: version, Host: facts, Tags: cfg.Tags,
	}
	backoff := time.Second
	for {
		resp, err := enroll.Enroll(ctx, client, cfg.ServerURL, req)
		if err == nil {
			st = enroll.State{ServerURL: cfg.ServerURL, PublicKey: id.PublicKey(), Response: *resp}
			if err := enroll.Save(cfg.StateDir, st); err != nil {
				return st, err
			}
			log.Info("enrolled", "server", cfg.ServerURL, "nats", resp.NATSURLs)
			return st, nil
		}
		if saved {
			log.Warn("enrollment refresh failed; using the saved enrollment", "nats", st.Response.NATSURLs, "err", err)
			return st, nil
		}
		if errors.Is(err, enroll.ErrRejected) || !retry || ctx.Err() != nil {
			return st, err
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		log.Warn("enrollment failed; retrying", "retry_in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

func natsOptions(id *identity.Identity, resp evidence.EnrollResponse) []nats.Option {
	opts := []nats.Option{
		nats.Name("fleetproof-agent " + id.DeviceID),
		nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectJitter(time.Second, 5*time.Second),
		// Acks come back on the device's own inbox, the only subjects its
		// credentials may subscribe to.
		nats.CustomInboxPrefix(evidence.InboxPrefix(id.DeviceID)),
	}
	if resp.UserJWT != "" {
		// The collector issued a JWT for our public key; the seed signs the
		// server's nonce and never leaves the device.
		opts = append(opts, nats.UserJWT(
			func() (string, error) { return resp.UserJWT, nil },
			func(nonce []byte) ([]byte, error) { return id.Sign(nonce) },
		))
	}
	return opts
}
