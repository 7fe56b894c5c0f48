package auth

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// What an external NATS cluster needs from the Authority: its operator
// JWT and account JWTs in the server configuration (ServerConfig), a
// system-account user to push account updates with, and a way to merge a
// revocation list with the one the cluster already holds.

// OperatorJWT is the signed operator JWT a server lists under `operator`.
func (a *Authority) OperatorJWT() (string, error) {
	oc := jwt.NewOperatorClaims(pub(a.operator))
	oc.Name = "fleetproof"
	oc.SystemAccount = pub(a.system)
	tok, err := oc.Encode(a.operator)
	if err != nil {
		return "", fmt.Errorf("auth: operator: %w", err)
	}
	return tok, nil
}

// OperatorPublicKey names the operator.
func (a *Authority) OperatorPublicKey() string { return pub(a.operator) }

// Subjects of the servers' account resolver (nats-server's events.go) that
// the system user may use, and nothing else: it exists to keep the
// evidence account's JWT current, not to administer the cluster.
const (
	claimsUpdateSubject = "$SYS.REQ.CLAIMS.UPDATE"
	claimsLookupFormat  = "$SYS.REQ.ACCOUNT.%s.CLAIMS.LOOKUP"
)

// ClaimsUpdateSubject is where a full resolver accepts account JWTs.
func ClaimsUpdateSubject() string { return claimsUpdateSubject }

// ClaimsLookupSubject is where a full resolver answers with the JWT it
// holds for account.
func ClaimsLookupSubject(account string) string { return fmt.Sprintf(claimsLookupFormat, account) }

// SystemUser issues a user JWT in the system account, allowed only to look
// up and update the evidence account's JWT (and to receive the replies),
// with a fresh key whose seed it returns for the connection nonce.
func (a *Authority) SystemUser(name string) (token string, seed []byte, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, fmt.Errorf("auth: %w", err)
	}
	uc := jwt.NewUserClaims(pub(kp))
	uc.Name = name
	uc.Pub.Allow.Add(claimsUpdateSubject, ClaimsLookupSubject(pub(a.account)), "$SYS.REQ.USER.INFO")
	uc.Sub.Allow.Add("_INBOX.>")
	tok, err := uc.Encode(a.system)
	if err != nil {
		return "", nil, fmt.Errorf("auth: system user: %w", err)
	}
	seed, _ = kp.Seed()
	return tok, seed, nil
}

// Remember records a revocation in memory only. With an external cluster
// the revocations live in ClickHouse and in the cluster's copy of the
// account JWT, and the key directory may be a read-only copy shared by
// several collectors, so nothing is written there.
func (a *Authority) Remember(publicKey string, at time.Time) error {
	if !nkeys.IsValidPublicUserKey(publicKey) {
		return fmt.Errorf("auth: revoke: %q is not a user public key", publicKey)
	}
	a.mu.Lock()
	a.remember(publicKey, at.Unix())
	a.mu.Unlock()
	return nil
}

// MergeAccount compares the evidence account JWT a cluster holds (empty
// if it holds none) with what this Authority would issue. It returns the
// JWT to push, with changed=false when the cluster's is already complete.
// Revocations the cluster has and this Authority lacks are kept (and
// remembered): several collectors push to one cluster, and the resolver
// keeps the last JWT it was sent, so pushing only one's own list could
// undo another collector's revocation.
func (a *Authority) MergeAccount(current string) (token string, changed bool, err error) {
	var have jwt.RevocationList
	complete := false
	if current != "" {
		ac, err := jwt.DecodeAccountClaims(current)
		if err != nil {
			return "", false, fmt.Errorf("auth: the cluster's evidence account JWT: %w", err)
		}
		if ac.Subject != pub(a.account) {
			return "", false, fmt.Errorf("auth: the cluster answered with account %s, not the evidence account %s", ac.Subject, pub(a.account))
		}
		if ac.Issuer != pub(a.operator) {
			return "", false, fmt.Errorf("auth: the cluster's evidence account JWT is signed by %s, not by this collector's operator %s: the collectors do not share one key directory", ac.Issuer, pub(a.operator))
		}
		have = ac.Revocations
		complete = ac.Limits.JetStreamLimits.DiskStorage == jwt.NoLimit
	}
	a.mu.Lock()
	for k, t := range have {
		if nkeys.IsValidPublicUserKey(k) {
			a.remember(k, t)
		}
	}
	want := make(map[string]int64, len(a.revocations))
	for k, t := range a.revocations {
		want[k] = t
		if have[k] < t {
			complete = false
		}
	}
	a.mu.Unlock()
	if complete {
		return current, false, nil
	}
	tok, err := a.encodeAccount(want)
	return tok, true, err
}

// ServerConfig renders the nats-server configuration fragment that makes
// a server trust this Authority: the operator, the system account, a full
// nats-based account resolver storing JWTs in resolverDir, and both
// account JWTs preloaded. The server's own configuration must enable
// JetStream (a store_dir); the evidence account's JWT grants it JetStream.
func (a *Authority) ServerConfig(resolverDir string) ([]byte, error) {
	op, err := a.OperatorJWT()
	if err != nil {
		return nil, err
	}
	accounts, err := a.AccountJWTs()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Fleetproof: NATS trust configuration, written by fleetproof-collector nats-config.
# Include it in every server of the cluster (include ./fleetproof.conf). The server's
# own configuration must enable JetStream, e.g. jetstream { store_dir: /var/lib/nats }.
# Operator %s (name fleetproof)
operator: %s

# System account (SYS): collectors push the evidence account's JWT through it.
system_account: %s

# The nats-based resolver keeps account JWTs in dir and shares updates between the
# servers; collectors push revocations to it at runtime. allow_delete stays false:
# nothing should be able to delete the evidence account.
resolver: {
  type: full
  dir: %s
  allow_delete: false
  interval: "2m"
  timeout: "1.9s"
}

# The system (SYS) and evidence (EVIDENCE) accounts, so the cluster trusts them from its
# first start. A JWT pushed later (with newer revocations) takes precedence over these.
resolver_preload: {
`, pub(a.operator), op, pub(a.system), strconv.Quote(resolverDir))
	keys := make([]string, 0, len(accounts))
	for k := range accounts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, accounts[k])
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}
