package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// Role is what a token may do.
type Role string

const (
	RoleAdmin   Role = "admin"
	RoleAnalyst Role = "analyst"
	RoleAuditor Role = "auditor"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleAnalyst, RoleAuditor:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want admin, analyst or auditor", s)
}

// tokenPrefix marks Fleetproof tokens so secret scanners can find leaks.
const tokenPrefix = "fpt_"

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewToken creates a token: the record to store and the bearer string to
// hand over once. The bearer is fpt_<id>_<secret>; only SHA-256(secret)
// is kept.
func NewToken(name string, role Role, createdBy string, expires time.Time, now time.Time) (store.Token, string, error) {
	var id [5]byte
	var secret [20]byte
	if _, err := rand.Read(id[:]); err != nil {
		return store.Token{}, "", err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return store.Token{}, "", err
	}
	tid := strings.ToLower(b32.EncodeToString(id[:]))
	sec := strings.ToLower(b32.EncodeToString(secret[:]))
	t := store.Token{ID: tid, Name: name, Role: string(role), SecretHash: hashSecret(sec),
		CreatedAt: now.UTC().Truncate(time.Second), CreatedBy: createdBy, Expires: expires.UTC()}
	return t, tokenPrefix + tid + "_" + sec, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Errors from Authenticate.
var (
	ErrNoToken      = errors.New("no bearer token")
	ErrInvalidToken = errors.New("token not valid")
)

// TokenStore is what authentication needs.
type TokenStore interface {
	Token(ctx context.Context, id string) (store.Token, error)
}

// Authenticator checks bearer tokens, caching lookups briefly so a busy
// API does not query ClickHouse per request; a revocation takes effect
// within the cache lifetime.
type Authenticator struct {
	Store TokenStore
	TTL   time.Duration
	Now   func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	t     store.Token
	found bool
	at    time.Time
}

// Authenticate returns the token a bearer string names, if it is valid now.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string) (store.Token, error) {
	if bearer == "" {
		return store.Token{}, ErrNoToken
	}
	rest, ok := strings.CutPrefix(bearer, tokenPrefix)
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || id == "" || secret == "" {
		return store.Token{}, ErrInvalidToken
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	t, found, err := a.lookup(ctx, id, now())
	if err != nil {
		return store.Token{}, err
	}
	if !found || subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(t.SecretHash)) != 1 {
		return store.Token{}, ErrInvalidToken
	}
	if !t.Expires.IsZero() && !now().Before(t.Expires) {
		return store.Token{}, fmt.Errorf("%w: expired %s", ErrInvalidToken, t.Expires.Format(time.RFC3339))
	}
	if t.RevokedAt.Unix() > 0 {
		return store.Token{}, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	return t, nil
}

func (a *Authenticator) lookup(ctx context.Context, id string, now time.Time) (store.Token, bool, error) {
	ttl := a.TTL
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	a.mu.Lock()
	c, ok := a.cache[id]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < ttl {
		return c.t, c.found, nil
	}
	t, err := a.Store.Token(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Token{}, false, err
	}
	a.mu.Lock()
	if a.cache == nil {
		a.cache = map[string]cached{}
	}
	a.cache[id] = cached{t: t, found: found, at: now}
	a.mu.Unlock()
	return t, found, nil
}
