package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func init() {
	register(command{name: "revoke", order: 50, run: runRevoke,
		summary: "revoke -device ID -reason TEXT [-by NAME]   cut a device off (NATS credentials, re-enrollment)"})
}

func runRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var device, reason, by string
	cfg, _, err := loadConfig("revoke", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&device, "device", "", "device id to revoke")
		fs.StringVar(&reason, "reason", "", "why (kept as evidence)")
		fs.StringVar(&by, "by", os.Getenv("USER"), "who revokes (kept as evidence)")
	})
	if err != nil {
		return err
	}
	if device == "" || reason == "" {
		return errors.New("revoke: -device and -reason are required")
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	defer st.Close()
	d, err := st.Device(ctx, device)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if err := st.Revoke(ctx, store.Revocation{DeviceID: d.DeviceID, PublicKey: d.PublicKey, RevokedAt: time.Now().UTC(),
		Reason: reason, RevokedBy: by}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (%s); running collectors apply it within %s\n", d.DeviceID, d.Hostname, cfg.RevocationPoll)
	return nil
}
