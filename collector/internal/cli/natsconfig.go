package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
)

func init() {
	register(command{name: "nats-config", order: 2, run: runNATSConfig,
		summary: "nats-config [-out FILE] [-resolver-dir DIR]   trust configuration for an external NATS cluster (nats_url)"})
}

const natsConfigHelp = `usage: fleetproof-collector nats-config [-data-dir D | -nats-keys-dir K] [-out FILE] [-resolver-dir DIR]

Writes the nats-server configuration fragment that makes an external NATS cluster trust
Fleetproof, creating the operator and account keys in the key directory on first use
(data_dir/auth, or nats_keys_dir). Use it when collectors run with nats_url:

  1. fleetproof-collector nats-config -data-dir /var/lib/fleetproof-collector -out fleetproof.conf
  2. Copy fleetproof.conf next to every server's configuration and add
       include ./fleetproof.conf
     The servers must have JetStream enabled (jetstream { store_dir: ... }); the fragment
     sets operator, system_account, a full nats-based account resolver
     (resolver { type: full, dir: DIR, allow_delete: false }) and resolver_preload with the
     system and evidence account JWTs (the evidence account carries JetStream limits).
  3. Give every collector a copy of the key directory (nats_keys_dir, owner-only): they all
     sign device credentials and account updates with these keys, and the cluster trusts
     no other. A collector with nats_url never creates keys; it refuses to start without them.
  4. Run collectors with nats_url (nats_creds is optional: by default each collector issues
     itself a user of the evidence account). Revocations are pushed to the cluster's resolver
     ($SYS.REQ.CLAIMS.UPDATE) by every collector within revocation_poll, and close the
     revoked device's connections without a restart.

The fragment holds only public JWTs, no seeds. Running the command again keeps the keys.
A server prefers the newer of its stored and preloaded JWTs, so a freshly written fragment
may bring back an evidence account JWT without recent revocations when servers reload it;
the collectors notice and push the revocations again within revocation_poll.

Flags:
`

func runNATSConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var out, resolverDir string
	cfg, _, err := loadConfig("nats-config", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "-", "file to write the fragment to (- for standard output)")
		fs.StringVar(&resolverDir, "resolver-dir", "jwt", "where each server's resolver stores account JWTs (relative to the server's working directory)")
		fs.Usage = func() {
			fmt.Fprint(stderr, natsConfigHelp)
			fs.PrintDefaults()
		}
	})
	if err != nil {
		return err
	}
	if resolverDir == "" {
		return fmt.Errorf("nats-config: -resolver-dir must not be empty")
	}
	a, err := auth.LoadOrCreate(cfg.KeysDir())
	if err != nil {
		return fmt.Errorf("nats-config: %w", err)
	}
	conf, err := a.ServerConfig(resolverDir)
	if err != nil {
		return fmt.Errorf("nats-config: %w", err)
	}
	if out == "-" {
		_, err := stdout.Write(conf)
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, conf, 0o644); err != nil {
		return fmt.Errorf("nats-config: writing %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("nats-config: writing %s: %w", out, err)
	}
	abs, _ := filepath.Abs(out)
	fmt.Fprintf(stderr, "wrote %s for operator %s; include it in every server's configuration and copy %s to every collector (nats_keys_dir)\n",
		abs, a.OperatorPublicKey(), cfg.KeysDir())
	return nil
}
