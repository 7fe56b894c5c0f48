package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// AccessStore keeps access records.
type AccessStore interface {
	InsertAccess(ctx context.Context, recs []store.Access) error
}

// API serves /api/v1.
type API struct {
	auth    *Authenticator
	access  AccessStore
	log     *slog.Logger
	records chan store.Access
	dropped atomic.Uint64
	mux     *http.ServeMux
}

// New returns an API; Mount adds its routes to a mux, Run flushes access
// records until ctx ends.
func New(auth *Authenticator, access AccessStore, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{auth: auth, access: access, log: log.With("component", "api"),
		records: make(chan store.Access, 10000), mux: http.NewServeMux()}
}

// Error is an error with the HTTP status it answers with.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds an *Error.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// HandlerFunc serves one route for an authenticated token.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, tok store.Token) error

// Handle registers pattern (a Go 1.22 mux pattern such as
// "GET /api/v1/posture") for the given roles.
func (a *API) Handle(pattern string, roles []Role, h HandlerFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		tok, err := a.auth.Authenticate(r.Context(), bearer(r))
		switch {
		case errors.Is(err, ErrNoToken):
			rec.Header().Set("WWW-Authenticate", `Bearer realm="fleetproof"`)
			writeError(rec, http.StatusUnauthorized, "an API token is required (Authorization: Bearer fpt_...)")
		case errors.Is(err, ErrInvalidToken):
			writeError(rec, http.StatusUnauthorized, err.Error())
		case err != nil:
			a.log.Error("token lookup failed", "err", err)
			writeError(rec, http.StatusServiceUnavailable, "storage unavailable; retry later")
		case !slices.Contains(roles, Role(tok.Role)):
			writeError(rec, http.StatusForbidden, fmt.Sprintf("role %s may not %s %s", tok.Role, r.Method, r.URL.Path))
		default:
			if err := h(rec, r, tok); err != nil {
				var ae *Error
				if errors.As(err, &ae) {
					writeError(rec, ae.Status, ae.Msg)
				} else {
					// Handlers return plain errors only from storage calls:
					// answer like a failed token lookup, and keep driver
					// details in the log rather than in the response.
					a.log.Error("request failed", "path", r.URL.Path, "err", err)
					writeError(rec, http.StatusServiceUnavailable, "storage unavailable; retry later")
				}
			}
		}
		a.record(store.Access{At: start, TokenID: tok.ID, Role: tok.Role, Method: r.Method, Path: r.URL.Path,
			Query: r.URL.RawQuery, Status: rec.status, DurationMS: time.Since(start).Milliseconds(), RemoteAddr: r.RemoteAddr})
	})
}

// Mount routes every /api/v1/ path except those mux already serves.
func (a *API) Mount(mux *http.ServeMux) { mux.Handle("/api/v1/", a.mux) }

// ServeHTTP serves the API's routes directly (tests, embedding).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if v, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

// record queues an access record without blocking the request: when the
// queue is full (storage down for long), the record is counted and logged.
func (a *API) record(rec store.Access) {
	select {
	case a.records <- rec:
	default:
		if a.dropped.Add(1)%1000 == 1 {
			a.log.Error("access records are being dropped: storage is not keeping up", "dropped", a.dropped.Load())
		}
	}
}

// Run writes queued access records in batches until ctx ends, then
// flushes what is left.
func (a *API) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var buf []store.Access
	flush := func(ctx context.Context) {
		if len(buf) == 0 {
			return
		}
		if err := a.access.InsertAccess(ctx, buf); err != nil {
			a.log.Warn("storing access records failed; will retry", "records", len(buf), "err", err)
			if len(buf) > 100000 {
				buf = buf[len(buf)-100000:]
			}
			return
		}
		buf = buf[:0]
	}
	for {
		select {
		case rec := <-a.records:
			buf = append(buf, rec)
			if len(buf) >= 1000 {
				flush(ctx)
			}
		case <-t.C:
			flush(ctx)
		case <-ctx.Done():
		drain:
			for {
				select {
				case rec := <-a.records:
					buf = append(buf, rec)
				default:
					break drain
				}
			}
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			flush(fctx)
			cancel()
			return
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// WriteJSON answers v as JSON.
func WriteJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Readers are the roles that may read fleet data.
var Readers = []Role{RoleAdmin, RoleAnalyst}

// Admins may change state.
var Admins = []Role{RoleAdmin}

// Everyone is every role.
var Everyone = []Role{RoleAdmin, RoleAnalyst, RoleAuditor}

// AuditorGrant checks that an auditor token covers controls over
// [from, to]; other roles are not limited.
func AuditorGrant(tok store.Token, controls []string, from, to time.Time) error {
	if Role(tok.Role) != RoleAuditor {
		return nil
	}
	for _, c := range controls {
		if !slices.Contains(tok.Controls, c) {
			return Errorf(http.StatusForbidden, "this token does not grant control %s (granted: %s)", c, strings.Join(tok.Controls, ", "))
		}
	}
	if from.Before(tok.PeriodFrom) || to.After(tok.PeriodTo) {
		return Errorf(http.StatusForbidden, "this token grants %s to %s only", tok.PeriodFrom.Format(time.DateOnly), tok.PeriodTo.Format(time.DateOnly))
	}
	return nil
}
