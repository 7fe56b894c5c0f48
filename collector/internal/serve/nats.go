package serve

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/natscluster"
	"github.com/fleetproof/fleetproof/collector/internal/natsd"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// natsSide is the collector's NATS, embedded or external: the connection
// ingest uses, the URL agents are given, and how a revocation reaches the
// servers.
type natsSide struct {
	nc        *nats.Conn
	url       string
	authority *auth.Authority
	// revoke makes the servers refuse a revoked device's credentials
	// (called once per new revocation); sync, called on every poll,
	// repairs what another writer may have undone.
	revoke func(ctx context.Context, r store.Revocation) error
	sync   func(ctx context.Context) error
}

// revokedBefore is the instant before which a revoked device's JWTs stop
// working: JWT issue times have one-second resolution, so one issued in
// the revocation's second is covered too.
func revokedBefore(r store.Revocation) time.Time { return r.RevokedAt.Add(time.Second) }

// startNATS starts the embedded server or connects to the external
// cluster; addCloser receives what to undo, in order.
func startNATS(ctx context.Context, cfg config.Config, tlsConf *tls.Config, log *slog.Logger, addCloser func(func())) (*natsSide, error) {
	natsClosed := make(chan struct{})
	onClosed := nats.ClosedHandler(func(*nats.Conn) { close(natsClosed) })
	drain := func(nc *nats.Conn) func() {
		return func() {
			// Drain returns at once; wait for it so the last acks reach
			// the server before the embedded server shuts down.
			if err := nc.Drain(); err == nil {
				select {
				case <-natsClosed:
				case <-time.After(10 * time.Second):
					log.Warn("nats drain did not finish in 10s")
				}
			}
		}
	}
	if cfg.NATSURL != "" {
		return connectExternal(ctx, cfg, log, addCloser, onClosed, drain)
	}
	// The embedded server runs in decentralized-auth mode: devices get
	// credentials scoped to their own subjects at enrollment.
	authority, err := auth.LoadOrCreate(cfg.KeysDir())
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	op, err := authority.OperatorClaims()
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	accounts, err := authority.AccountJWTs()
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	ns, err := natsd.Start(natsd.Options{
		StoreDir: filepath.Join(cfg.DataDir, "nats"), Listen: cfg.NATSListen, ServerName: "fleetproof-collector", Logger: log,
		Operator: op, Accounts: accounts, SystemAccount: authority.SystemAccountPublicKey(), TLS: tlsConf,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	addCloser(ns.Shutdown)
	natsURL := ns.ClientURL()
	tok, seed, err := authority.ServiceUser("fleetproof-collector")
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	natsOpts := []nats.Option{nats.Name("fleetproof-collector"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.UserJWTAndSeed(tok, string(seed)), onClosed}
	if tlsConf != nil {
		natsURL = strings.Replace(natsURL, "nats://", "tls://", 1)
		natsOpts = append(natsOpts, nats.Secure(pinnedTLS(tlsConf.Certificates[0])))
	}
	log.Info("embedded nats started", "url", natsURL, "account", authority.AccountPublicKey())
	nc, err := nats.Connect(natsURL, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("serve: connect nats %s: %w", natsURL, err)
	}
	addCloser(drain(nc))
	return &natsSide{nc: nc, url: natsURL, authority: authority,
		revoke: func(_ context.Context, r store.Revocation) error {
			tok, err := authority.Revoke(r.PublicKey, revokedBefore(r))
			if err != nil {
				return err
			}
			return ns.UpdateAccount(tok)
		},
		sync: func(context.Context) error { return nil },
	}, nil
}

// connectExternal joins a cluster that trusts the key directory's
// operator. The keys must already exist: creating them here would make a
// trust root the cluster has never heard of.
func connectExternal(ctx context.Context, cfg config.Config, log *slog.Logger, addCloser func(func()), onClosed nats.Option, drain func(*nats.Conn) func()) (*natsSide, error) {
	authority, err := auth.Load(cfg.KeysDir())
	if err != nil {
		return nil, fmt.Errorf("serve: nats_url needs the keys the cluster trusts: run `fleetproof-collector nats-config` once to create them and the servers' configuration, then give every collector a copy of %s (nats_keys_dir): %w",
			cfg.KeysDir(), err)
	}
	cl, err := natscluster.Connect(ctx, natscluster.Options{
		URL: cfg.NATSURL, Creds: cfg.NATSCreds, Authority: authority, Name: "fleetproof-collector", Logger: log,
		Options: []nats.Option{onClosed},
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	addCloser(cl.Close)
	addCloser(drain(cl.Conn()))
	log.Info("connected to the external nats cluster", "url", cfg.NATSURL, "operator", authority.OperatorPublicKey(),
		"account", authority.AccountPublicKey())
	return &natsSide{nc: cl.Conn(), url: cfg.NATSURL, authority: authority,
		revoke: func(_ context.Context, r store.Revocation) error {
			return authority.Remember(r.PublicKey, revokedBefore(r))
		},
		sync: func(ctx context.Context) error {
			_, err := cl.Sync(ctx)
			return err
		},
	}, nil
}
