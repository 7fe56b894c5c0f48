package store

import (
	"context"
	"fmt"
	"time"
)

// Token is an API token's record; the secret itself is never stored.
type Token struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	SecretHash string    `json:"-"`
	Controls   []string  `json:"controls,omitempty"` // auditor grants
	PeriodFrom time.Time `json:"period_from,omitempty"`
	PeriodTo   time.Time `json:"period_to,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
	Expires    time.Time `json:"expires"`
	RevokedAt  time.Time `json:"revoked_at,omitempty"`
}

// PutToken writes a token version (creation or revocation).
func (s *Store) PutToken(ctx context.Context, t Token) error {
	controls := t.Controls
	if controls == nil {
		controls = []string{}
	}
	err := s.insertOne(ctx, `INSERT INTO api_tokens (token_id, name, role, secret_hash, controls, period_from,
		period_to, created_at, created_by, expires, revoked_at, version)`,
		t.ID, t.Name, t.Role, t.SecretHash, controls, dateTime(t.PeriodFrom), dateTime(t.PeriodTo), dateTime(t.CreatedAt),
		t.CreatedBy, dateTime(t.Expires), dateTime(t.RevokedAt), uint64(time.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("store: put token: %w", err)
	}
	return nil
}

const tokenColumns = `token_id, name, role, secret_hash, controls, period_from, period_to, created_at,
	created_by, expires, revoked_at`

// Token returns the newest version of one token, or ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (Token, error) {
	ts, err := s.queryTokens(ctx, "WHERE token_id = ?", id)
	if err != nil {
		return Token{}, err
	}
	if len(ts) == 0 {
		return Token{}, fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	return ts[0], nil
}

// Tokens lists every token.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) { return s.queryTokens(ctx, "") }

func (s *Store) queryTokens(ctx context.Context, where string, args ...any) ([]Token, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+tokenColumns+" FROM api_tokens FINAL "+where+" ORDER BY created_at, token_id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.SecretHash, &t.Controls, &t.PeriodFrom, &t.PeriodTo,
			&t.CreatedAt, &t.CreatedBy, &t.Expires, &t.RevokedAt); err != nil {
			return nil, fmt.Errorf("store: tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Access is one API call.
type Access struct {
	At         time.Time
	TokenID    string
	Role       string
	Method     string
	Path       string
	Query      string
	Status     int
	DurationMS int64
	RemoteAddr string
}

// InsertAccess stores access records in one batch.
func (s *Store) InsertAccess(ctx context.Context, recs []Access) error {
	if len(recs) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, `INSERT INTO api_access (at, token_id, role, method, path, query, status,
		duration_ms, remote_addr)`)
	if err != nil {
		return fmt.Errorf("store: access: %w", err)
	}
	for _, a := range recs {
		if err := b.Append(a.At.UTC(), a.TokenID, a.Role, a.Method, a.Path, a.Query, uint16(a.Status),
			uint32(max(a.DurationMS, 0)), a.RemoteAddr); err != nil {
			b.Abort()
			return fmt.Errorf("store: access: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store: access: %w", err)
	}
	return nil
}

// dateTime maps Go's zero time, which DateTime cannot hold (it would wrap),
// to the epoch, which reads back as "not set".
func dateTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}
