package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetproof/fleetproof/collector/internal/api"
	"github.com/fleetproof/fleetproof/collector/internal/chserver"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/enroll"
	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/metrics"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

// Info describes a running collector; Run passes it to its ready callback.
type Info struct {
	HTTPURL       string           `json:"http_url"`
	NATSURL       string           `json:"nats_url"`
	ClickHouseDSN string           `json:"clickhouse_dsn"`
	PID           int              `json:"pid"`
	Ingester      *ingest.Ingester `json:"-"`
}

// Version is the collector's version, recorded in extract manifests; the
// command line sets it from its build-time value.
var Version = "dev"

// StateFile is where a running serve records its endpoints (an Info as
// JSON), so reporting subcommands and scripts on the same data dir can
// find it; it is removed on a clean stop.
const StateFile = "collector.json"

// ReadState reads the endpoints a running serve recorded in dataDir.
func ReadState(dataDir string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(dataDir, StateFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("serve: %s: %w", StateFile, err)
	}
	return info, nil
}

// ManagedDatabase is the database used on a collector-managed ClickHouse.
const ManagedDatabase = "fleetproof"

// Run serves until ctx ends. ready, if not nil, is called once everything
// accepts traffic.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(Info)) (err error) {
	if err := cfg.ServeRequirements(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("serve: data dir: %w", err)
	}
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	dsn := cfg.ClickHouseDSN
	if dsn == "" {
		ch, err := chserver.Start(ctx, chserver.Options{
			Dir: filepath.Join(cfg.DataDir, "clickhouse"), Binary: cfg.ClickHouseBinary, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("serve: local clickhouse (set clickhouse_dsn to use an existing server): %w", err)
		}
		closers = append(closers, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ch.Stop(sctx); err != nil {
				log.Warn("stopping local clickhouse", "err", err)
			}
		})
		dsn = "clickhouse://" + ch.Addr() + "/" + ManagedDatabase
		log.Info("local clickhouse started", "addr", ch.Addr(), "dir", ch.Dir())
	}
	st, err := store.Open(ctx, dsn, log, store.WithCluster(cfg.ClickHouseCluster))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	closers = append(closers, func() { st.Close() })

	var tlsConf *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("serve: tls: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	side, err := startNATS(ctx, cfg, tlsConf, log, func(f func()) { closers = append(closers, f) })
	if err != nil {
		return err
	}
	nc, natsURL, authority := side.nc, side.url, side.authority
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("serve: jetstream: %w", err)
	}
	cons, err := ingest.EnsureStream(ctx, js, ingest.StreamOptions{MaxAge: cfg.StreamMaxAge})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	met := metrics.New()
	in := ingest.New(ingest.Options{Consumer: cons, Store: st, Logger: log, BatchSize: cfg.IngestBatch, Observer: met})

	advertise := cfg.NATSAdvertise
	if advertise == "" {
		advertise = natsURL
	}
	mux := http.NewServeMux()
	mux.Handle(evidence.EnrollPath, &enroll.Handler{
		Secrets: cfg.EnrollSecrets, Devices: st, NATSURLs: strings.Split(advertise, ","), Logger: log,
		Enrolled:  in.Forget,
		Observe:   met.ObserveEnrollment,
		IssueUser: authority.DeviceUser,
	})
	cat, err := queries.Load()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	apiSrv := api.New(&api.Authenticator{Store: st}, st, log)
	api.Register(apiSrv, api.Deps{Store: st, Catalog: cat})
	api.RegisterReports(apiSrv, api.Deps{Store: st, Catalog: cat})
	manifestKey, err := extract.LoadOrCreateKey(filepath.Join(cfg.DataDir, extract.KeyFile))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	api.RegisterExtract(apiSrv, api.ExtractDeps{Store: st, Catalog: cat, Key: manifestKey, Version: Version})
	apiSrv.Mount(mux)
	mux.Handle("/metrics", met.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := readiness(r.Context(), st, nc); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("serve: http listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug)}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(6)
	go func() {
		defer wg.Done()
		apiSrv.Run(runCtx)
	}()
	go func() {
		defer wg.Done()
		applyRetention(runCtx, st, cfg.RetentionDays, log)
	}()
	go func() {
		defer wg.Done()
		met.WatchConsumer(runCtx, func(ctx context.Context) (uint64, int, error) {
			ci, err := cons.Info(ctx)
			if err != nil {
				return 0, 0, err
			}
			return ci.NumPending, ci.NumAckPending, nil
		}, 5*time.Second)
	}()
	go func() {
		defer wg.Done()
		watchRevocations(runCtx, st, in, side, cfg.RevocationPoll, log)
	}()
	go func() {
		defer wg.Done()
		serveHTTP := func() error { return srv.Serve(ln) }
		if tlsConf != nil {
			srv.TLSConfig = tlsConf
			serveHTTP = func() error { return srv.ServeTLS(ln, "", "") }
		}
		if err := serveHTTP(); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve: http: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := in.Run(runCtx); err != nil {
			errc <- err
		}
	}()
	scheme := "http://"
	if tlsConf != nil {
		scheme = "https://"
	}
	info := Info{HTTPURL: scheme + ln.Addr().String(), NATSURL: natsURL, ClickHouseDSN: dsn, PID: os.Getpid(), Ingester: in}
	statePath := filepath.Join(cfg.DataDir, StateFile)
	if b, err := json.MarshalIndent(info, "", "  "); err == nil {
		if err := os.WriteFile(statePath, append(b, '\n'), 0o600); err != nil {
			log.Warn("cannot record endpoints", "file", statePath, "err", err)
		}
		defer os.Remove(statePath)
	}
	log.Info("collector ready", "http", info.HTTPURL, "nats", natsURL)
	if ready != nil {
		ready(info)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	log.Info("collector stopped")
	return err
}

func readiness(ctx context.Context, st *store.Store, nc *nats.Conn) error {
	if !nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

// watchRevocations applies revocations recorded in ClickHouse (by any
// collector, or by `fleetproof-collector revoke`) to this collector: the
// device's cached key is dropped and its NATS credentials stop working,
// closing live connections. Every collector runs it, so on a shared
// cluster each one also repairs (side.sync) an account JWT another
// collector pushed without its revocations.
func watchRevocations(ctx context.Context, st *store.Store, in *ingest.Ingester, side *natsSide, every time.Duration, log *slog.Logger) {
	applied := map[string]bool{}
	var pending []store.Revocation // applied here, not yet confirmed by sync
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		revs, err := st.Revocations(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("reading revocations failed", "err", err)
		}
		for _, r := range revs {
			key := r.DeviceID + "/" + r.PublicKey
			if applied[key] {
				continue
			}
			in.Forget(r.DeviceID)
			if err := side.revoke(ctx, r); err != nil {
				log.Error("applying revocation failed", "device_id", r.DeviceID, "err", err)
				continue
			}
			applied[key] = true
			pending = append(pending, r)
		}
		if err == nil {
			// Only after a complete read: a partial list must not be
			// taken for the cluster's whole truth (the merge keeps what
			// the cluster has anyway).
			if err := side.sync(ctx); err != nil {
				if ctx.Err() == nil {
					log.Error("pushing revocations to the nats cluster failed; retrying next poll", "err", err)
				}
			} else {
				for _, r := range pending {
					log.Info("device revoked", "device_id", r.DeviceID, "reason", r.Reason, "by", r.RevokedBy)
				}
				pending = nil
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// applyRetention drops evidence older than the retention period once a
// day. Every collector may run it: dropping an absent partition is a no-op.
func applyRetention(ctx context.Context, st *store.Store, days int, log *slog.Logger) {
	if days == 0 {
		return
	}
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		cutoff := time.Now().AddDate(0, 0, -days)
		dropped, err := st.DropPartitionsBefore(ctx, cutoff)
		if err != nil && ctx.Err() == nil {
			log.Warn("retention failed; retrying tomorrow", "err", err)
		}
		if len(dropped) > 0 {
			log.Info("retention dropped old evidence", "cutoff", cutoff.Format(time.DateOnly), "partitions", dropped)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pinnedTLS verifies that a server presents exactly cert. The collector
// uses it to reach its own embedded NATS over loopback, where the
// certificate's names (the public hostname agents use) do not match the
// address dialled, so name verification would fail for the wrong reason.
func pinnedTLS(cert tls.Certificate) *tls.Config {
	own := cert.Certificate[0]
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the exact-match check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], own) {
				return errors.New("serve: embedded NATS presented a certificate other than the collector's own")
			}
			return nil
		},
	}
}
