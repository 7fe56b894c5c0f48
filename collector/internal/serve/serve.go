package serve

import (
	"context"
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

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/enroll"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/natsd"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// Info describes a running collector; Run passes it to its ready callback.
type Info struct {
	HTTPURL       string
	NATSURL       string
	ClickHouseDSN string
	Ingester      *ingest.Ingester
}

// DSNFile is where serve records the DSN of the ClickHouse it manages, so
// reporting subcommands on the same data dir can find it.
const DSNFile = "clickhouse.dsn"

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
		dsnPath := filepath.Join(cfg.DataDir, DSNFile)
		if err := os.WriteFile(dsnPath, []byte(dsn+"\n"), 0o600); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		closers = append(closers, func() { os.Remove(dsnPath) })
		log.Info("local clickhouse started", "addr", ch.Addr(), "dir", ch.Dir())
	}
	st, err := store.Open(ctx, dsn, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	closers = append(closers, func() { st.Close() })

	natsURL := cfg.NATSURL
	if natsURL == "" {
		ns, err := natsd.Start(natsd.Options{
			StoreDir: filepath.Join(cfg.DataDir, "nats"), Listen: cfg.NATSListen, ServerName: "fleetproof-collector", Logger: log,
		})
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		closers = append(closers, ns.Shutdown)
		natsURL = ns.ClientURL()
		log.Info("embedded nats started", "url", natsURL)
	}
	nc, err := nats.Connect(natsURL, nats.Name("fleetproof-collector"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
	if err != nil {
		return fmt.Errorf("serve: connect nats %s: %w", natsURL, err)
	}
	closers = append(closers, func() { nc.Drain() })
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("serve: jetstream: %w", err)
	}
	cons, err := ingest.EnsureStream(ctx, js, ingest.StreamOptions{MaxAge: cfg.StreamMaxAge})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	in := ingest.New(ingest.Options{Consumer: cons, Store: st, Logger: log, BatchSize: cfg.IngestBatch})

	advertise := cfg.NATSAdvertise
	if advertise == "" {
		advertise = natsURL
	}
	mux := http.NewServeMux()
	mux.Handle(evidence.EnrollPath, &enroll.Handler{
		Secrets: cfg.EnrollSecrets, Devices: st, NATSURLs: strings.Split(advertise, ","), Logger: log,
		Enrolled: in.Forget,
	})
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve: http: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := in.Run(runCtx); err != nil {
			errc <- err
		}
	}()
	info := Info{HTTPURL: "http://" + ln.Addr().String(), NATSURL: natsURL, ClickHouseDSN: dsn, Ingester: in}
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
