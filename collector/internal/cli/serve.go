package cli

import (
	"context"
	"io"

	"github.com/fleetproof/fleetproof/collector/internal/serve"
)

func init() {
	register(command{name: "serve", order: 0, run: func(ctx context.Context, args []string, _, stderr io.Writer) error {
		return runServe(ctx, args, stderr)
	}, summary: "serve   [flags]   run NATS, ingest and the HTTP endpoints"})
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, _, err := loadConfig("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	serve.Version = Version
	return serve.Run(ctx, cfg, newLogger(stderr, cfg.LogLevel), nil)
}
