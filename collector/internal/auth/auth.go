package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/evidence"
)

// Files in the auth directory.
const (
	operatorSeedFile = "operator.nk"
	systemSeedFile   = "system.nk"
	accountSeedFile  = "account.nk"
	revocationsFile  = "revocations.json"
)

// Authority signs the account and user JWTs.
type Authority struct {
	dir      string
	operator nkeys.KeyPair
	system   nkeys.KeyPair
	account  nkeys.KeyPair

	mu          sync.Mutex
	revocations map[string]int64 // user public key → revoked before (unix)
}

// LoadOrCreate reads the keys in dir, creating any that are missing.
func LoadOrCreate(dir string) (*Authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return load(dir, true)
}

// ErrNoKeys means Load found no key material in the directory.
var ErrNoKeys = errors.New("auth: no NATS keys")

// Load reads the keys in dir and creates none. Collectors that share an
// external NATS cluster use it: they must all sign with the one operator
// and account the cluster trusts, so a missing key is an error rather
// than the start of a second trust root.
func Load(dir string) (*Authority, error) {
	for _, f := range []string{operatorSeedFile, systemSeedFile, accountSeedFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("%w in %s: %v", ErrNoKeys, dir, err)
		}
	}
	return load(dir, false)
}

func load(dir string, create bool) (*Authority, error) {
	a := &Authority{dir: dir, revocations: map[string]int64{}}
	var err error
	if a.operator, err = loadOrCreate(filepath.Join(dir, operatorSeedFile), nkeys.CreateOperator, create); err != nil {
		return nil, err
	}
	if a.system, err = loadOrCreate(filepath.Join(dir, systemSeedFile), nkeys.CreateAccount, create); err != nil {
		return nil, err
	}
	if a.account, err = loadOrCreate(filepath.Join(dir, accountSeedFile), nkeys.CreateAccount, create); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, revocationsFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &a.revocations); err != nil {
			return nil, fmt.Errorf("auth: %s: %w", revocationsFile, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("auth: %w", err)
	}
	return a, nil
}

func loadOrCreate(path string, create func() (nkeys.KeyPair, error), mayCreate bool) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", path, err)
		}
		return kp, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !mayCreate {
		return nil, fmt.Errorf("auth: %w", err)
	}
	kp, err := create()
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return kp, nil
}

func pub(kp nkeys.KeyPair) string { p, _ := kp.PublicKey(); return p }

// AccountPublicKey names the evidence account.
func (a *Authority) AccountPublicKey() string { return pub(a.account) }

// SystemAccountPublicKey names the system account.
func (a *Authority) SystemAccountPublicKey() string { return pub(a.system) }

// OperatorClaims are what a NATS server trusts.
func (a *Authority) OperatorClaims() (*jwt.OperatorClaims, error) {
	tok, err := a.OperatorJWT()
	if err != nil {
		return nil, err
	}
	return jwt.DecodeOperatorClaims(tok)
}

// AccountJWTs returns the signed JWTs of the system and evidence accounts,
// keyed by account public key, for the server's resolver.
func (a *Authority) AccountJWTs() (map[string]string, error) {
	sysJWT, err := a.SystemAccountJWT()
	if err != nil {
		return nil, err
	}
	acc, err := a.AccountJWT()
	if err != nil {
		return nil, err
	}
	return map[string]string{pub(a.system): sysJWT, pub(a.account): acc}, nil
}

// SystemAccountJWT is the signed JWT of the system account.
func (a *Authority) SystemAccountJWT() (string, error) {
	sys := jwt.NewAccountClaims(pub(a.system))
	sys.Name = "SYS"
	tok, err := sys.Encode(a.operator)
	if err != nil {
		return "", fmt.Errorf("auth: system account: %w", err)
	}
	return tok, nil
}

// AccountJWT is the signed JWT of the evidence account with every
// revocation this Authority knows.
func (a *Authority) AccountJWT() (string, error) {
	a.mu.Lock()
	revs := make(map[string]int64, len(a.revocations))
	for k, t := range a.revocations {
		revs[k] = t
	}
	a.mu.Unlock()
	return a.encodeAccount(revs)
}

// encodeAccount signs the evidence account's claims. JetStream is enabled
// here, in the JWT: an operator-mode server gives an account JetStream
// only when its JWT carries limits, and a pushed JWT without them would
// switch the evidence stream off.
func (a *Authority) encodeAccount(revocations map[string]int64) (string, error) {
	ac := jwt.NewAccountClaims(pub(a.account))
	ac.Name = "EVIDENCE"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
		Streams: jwt.NoLimit, Consumer: jwt.NoLimit}
	for k, t := range revocations {
		ac.RevokeAt(k, time.Unix(t, 0))
	}
	tok, err := ac.Encode(a.operator)
	if err != nil {
		return "", fmt.Errorf("auth: account: %w", err)
	}
	return tok, nil
}

// DeviceUser issues the user JWT of a device: publish only to its own
// evidence subjects, subscribe only to its own inbox.
func (a *Authority) DeviceUser(deviceID, publicKey string) (string, error) {
	if !evidence.ValidDeviceID(deviceID) || !nkeys.IsValidPublicUserKey(publicKey) {
		return "", fmt.Errorf("auth: device %q key %q: invalid", deviceID, publicKey)
	}
	uc := jwt.NewUserClaims(publicKey)
	uc.Name = deviceID
	uc.IssuerAccount = ""
	uc.Pub.Allow.Add(evidence.Subject(deviceID, ">"))
	uc.Sub.Allow.Add(evidence.InboxPrefix(deviceID) + ".>")
	uc.Resp = nil
	tok, err := uc.Encode(a.account)
	if err != nil {
		return "", fmt.Errorf("auth: device user: %w", err)
	}
	return tok, nil
}

// ServiceUser issues a user JWT with no restrictions inside the evidence
// account, for the collector's own connection, and returns it with the
// seed to sign the connection nonce. A fresh key per call keeps the seed
// in memory only.
func (a *Authority) ServiceUser(name string) (token string, seed []byte, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, fmt.Errorf("auth: %w", err)
	}
	uc := jwt.NewUserClaims(pub(kp))
	uc.Name = name
	tok, err := uc.Encode(a.account)
	if err != nil {
		return "", nil, fmt.Errorf("auth: service user: %w", err)
	}
	seed, _ = kp.Seed()
	return tok, seed, nil
}

// Revoke revokes every user JWT issued for publicKey until now, persists
// the list, and returns the account JWT to apply to the server.
func (a *Authority) Revoke(publicKey string, at time.Time) (string, error) {
	if !nkeys.IsValidPublicUserKey(publicKey) {
		return "", fmt.Errorf("auth: revoke: %q is not a user public key", publicKey)
	}
	a.mu.Lock()
	a.remember(publicKey, at.Unix())
	b, _ := json.MarshalIndent(a.revocations, "", "  ")
	a.mu.Unlock()
	tmp := filepath.Join(a.dir, revocationsFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", fmt.Errorf("auth: revoke: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(a.dir, revocationsFile)); err != nil {
		return "", fmt.Errorf("auth: revoke: %w", err)
	}
	return a.AccountJWT()
}

// remember records a revocation in memory; a later time wins because it
// covers more of the key's JWTs. Callers hold a.mu.
func (a *Authority) remember(publicKey string, at int64) {
	if at > a.revocations[publicKey] {
		a.revocations[publicKey] = at
	}
}
