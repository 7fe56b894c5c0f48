package natscluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/fleetproof/fleetproof/collector/internal/auth"
)

// Options configure Connect.
type Options struct {
	// URL is one or more comma-separated server URLs.
	URL string
	// Creds, if set, is a credentials file for the ingest connection; its
	// user must belong to the evidence account. Empty: the collector
	// issues a user for itself from the account key.
	Creds     string
	Authority *auth.Authority
	// Name names the connections in the servers' monitoring.
	Name   string
	Logger *slog.Logger
	// Timeout bounds the initial connects and each request.
	Timeout time.Duration
	// Options are added to the ingest connection (handlers, say).
	Options []nats.Option
}

// Cluster is a connected external cluster.
type Cluster struct {
	nc, sys *nats.Conn
	a       *auth.Authority
	log     *slog.Logger
	timeout time.Duration
	url     string
}

// Connect connects to the cluster, makes sure it holds a complete
// evidence account JWT, and checks that the ingest connection landed in
// the evidence account. Unlike the embedded case it does not retry a
// failed first connect in the background: a wrong URL or an untrusting
// cluster is reported now, with what to do about it.
func Connect(ctx context.Context, o Options) (*Cluster, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{a: o.Authority, log: o.Logger, timeout: o.Timeout, url: o.URL}
	tok, seed, err := o.Authority.SystemUser(o.Name + "-system")
	if err != nil {
		return nil, fmt.Errorf("natscluster: %w", err)
	}
	c.sys, err = nats.Connect(o.URL, nats.Name(o.Name+"-system"), nats.UserJWTAndSeed(tok, string(seed)),
		nats.Timeout(o.Timeout), nats.MaxReconnects(-1))
	if err != nil {
		return nil, c.connectError("system-account user", err)
	}
	if _, err := c.Sync(ctx); err != nil {
		c.sys.Close()
		return nil, err
	}
	opts := append([]nats.Option{nats.Name(o.Name), nats.Timeout(o.Timeout), nats.MaxReconnects(-1)}, o.Options...)
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	} else {
		tok, seed, err := o.Authority.ServiceUser(o.Name)
		if err != nil {
			c.sys.Close()
			return nil, fmt.Errorf("natscluster: %w", err)
		}
		opts = append(opts, nats.UserJWTAndSeed(tok, string(seed)))
	}
	if c.nc, err = nats.Connect(o.URL, opts...); err != nil {
		c.sys.Close()
		return nil, c.connectError("evidence-account user", err)
	}
	if err := c.checkAccount(ctx); err != nil {
		c.nc.Close()
		c.sys.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) connectError(who string, err error) error {
	if errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		return fmt.Errorf("natscluster: %s refused the collector's %s (%v): the servers do not trust operator %s; include the output of `fleetproof-collector nats-config` (from this key directory) in every server's configuration",
			c.url, who, err, c.a.OperatorPublicKey())
	}
	return fmt.Errorf("natscluster: connect %s as the %s: %w", c.url, who, err)
}

// Conn is the ingest connection, in the evidence account.
func (c *Cluster) Conn() *nats.Conn { return c.nc }

// Close closes the system connection; the caller drains Conn.
func (c *Cluster) Close() { c.sys.Close() }

// Sync makes the cluster's evidence account JWT carry every revocation
// the Authority knows (and JetStream): it looks the JWT up, merges, and
// pushes the result if anything was missing. Collectors call it on every
// revocation poll, so an update another collector overwrote, or an older
// preload a server restart brought back, is repaired within a poll.
func (c *Cluster) Sync(ctx context.Context) (pushed bool, err error) {
	acct := c.a.AccountPublicKey()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.sys.RequestWithContext(ctx, auth.ClaimsLookupSubject(acct), nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return false, fmt.Errorf("natscluster: %s answers no account lookups for Fleetproof's system account %s: the servers run without its operator, system_account or a full account resolver; include the output of `fleetproof-collector nats-config` in their configuration",
			c.url, c.a.SystemAccountPublicKey())
	}
	if err != nil {
		return false, fmt.Errorf("natscluster: looking up the evidence account %s: %w", acct, err)
	}
	tok, changed, err := c.a.MergeAccount(string(msg.Data))
	if err != nil {
		return false, fmt.Errorf("natscluster: %w", err)
	}
	if !changed {
		return false, nil
	}
	if err := c.push(ctx, tok); err != nil {
		return false, err
	}
	ac, _ := jwt.DecodeAccountClaims(tok)
	c.log.Info("pushed the evidence account JWT to the NATS cluster", "account", acct, "revocations", len(ac.Revocations))
	return true, nil
}

// push sends an account JWT to the servers' full resolvers. Every server
// stores it and applies it at once, closing connections of revoked
// users; the first answer comes back.
func (c *Cluster) push(ctx context.Context, tok string) error {
	msg, err := c.sys.RequestWithContext(ctx, auth.ClaimsUpdateSubject(), []byte(tok))
	if err != nil {
		return fmt.Errorf("natscluster: pushing the evidence account JWT: %w", err)
	}
	var resp struct {
		Data *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"data"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("natscluster: pushing the evidence account JWT: reply %q: %w", msg.Data, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("natscluster: the cluster refused the evidence account JWT: %d %s", resp.Error.Code, resp.Error.Description)
	}
	if resp.Data == nil || resp.Data.Code != 200 {
		return fmt.Errorf("natscluster: pushing the evidence account JWT: unexpected reply %q", msg.Data)
	}
	return nil
}

// checkAccount asks the server which account the ingest connection is in:
// a credentials file for some other account would connect, then fail to
// see the evidence stream.
func (c *Cluster) checkAccount(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, "$SYS.REQ.USER.INFO", nil)
	if err != nil {
		return fmt.Errorf("natscluster: asking %s which account the collector is in: %w", c.url, err)
	}
	var resp struct {
		Data struct {
			Account string `json:"account"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("natscluster: user info reply %q: %w", msg.Data, err)
	}
	if want := c.a.AccountPublicKey(); resp.Data.Account != want {
		return fmt.Errorf("natscluster: the collector's connection to %s is in account %q, not the evidence account %s (nats_creds must hold a user of that account)",
			c.url, resp.Data.Account, want)
	}
	return nil
}
