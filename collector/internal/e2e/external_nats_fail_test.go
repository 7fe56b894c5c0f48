package e2e_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/config"
	"github.com/fleetproof/fleetproof/collector/internal/natsd"
	"github.com/fleetproof/fleetproof/collector/internal/serve"
)

// collectorStartError runs serve, which must fail before it is ready, and
// returns its error.
func collectorStartError(t *testing.T, edit func(*config.Config)) error {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.EnrollSecrets = []string{secret}
	edit(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("configuration rejected before start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	err := serve.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(serve.Info) {
		t.Error("the collector became ready")
		cancel()
	})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve returned %v after %s, want a startup error", err, time.Since(began))
	}
	t.Logf("startup error after %s: %v", time.Since(began).Round(time.Millisecond), err)
	return err
}

func wantIn(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestExternalClusterMisconfigurationFailsAtStartup(t *testing.T) {
	dsn := chtest.Database(t)
	keys := t.TempDir()
	trusting := startExternalNATS(t, keys)

	t.Run("GarbledURL", func(t *testing.T) {
		for _, u := range []string{"http://127.0.0.1:4222", "nats://127.0.0.1:99999", "nats://:4222", "nats://127.0.0.1:4222, "} {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.NATSURL = u
			err := cfg.Validate()
			if err == nil {
				t.Errorf("nats_url %q accepted", u)
				continue
			}
			wantIn(t, err, "nats_url", "want nats://host:4222")
		}
	})
	t.Run("NothingListening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = collectorStartError(t, func(c *config.Config) {
			c.ClickHouseDSN, c.NATSURL, c.NATSKeysDir = dsn, "nats://"+addr, keys
		})
		wantIn(t, err, "connect nats://"+addr)
	})
	t.Run("NoKeys", func(t *testing.T) {
		// A collector must not invent a trust root of its own.
		empty := t.TempDir()
		err := collectorStartError(t, func(c *config.Config) {
			c.ClickHouseDSN, c.NATSURL, c.NATSKeysDir = dsn, trusting.ClientURL(), empty
		})
		wantIn(t, err, "nats-config", empty)
		if m, _ := filepath.Glob(filepath.Join(empty, "*")); len(m) != 0 {
			t.Errorf("the collector created %v", m)
		}
	})
	t.Run("ServerTrustsAnotherOperator", func(t *testing.T) {
		other := t.TempDir()
		startExternalNATS(t, other) // creates other's keys
		err := collectorStartError(t, func(c *config.Config) {
			c.ClickHouseDSN, c.NATSURL, c.NATSKeysDir = dsn, trusting.ClientURL(), other
		})
		wantIn(t, err, trusting.ClientURL(), "do not trust operator", "nats-config")
	})
	t.Run("ServerWithoutOperator", func(t *testing.T) {
		open, err := natsd.Start(natsd.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer open.Shutdown()
		err = collectorStartError(t, func(c *config.Config) {
			c.ClickHouseDSN, c.NATSURL, c.NATSKeysDir = dsn, open.ClientURL(), keys
		})
		wantIn(t, err, open.ClientURL(), "without its operator", "nats-config")
	})
}
