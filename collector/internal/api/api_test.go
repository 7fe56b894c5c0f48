package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/api"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

func TestMain(m *testing.M) { chtest.Main(m) }

type rig struct {
	t      *testing.T
	st     *store.Store
	srv    *httptest.Server
	tokens map[api.Role]string
	stop   func()
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, chtest.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(&api.Authenticator{Store: st, TTL: time.Nanosecond}, st, nil)
	api.Register(a, api.Deps{Store: st, Catalog: cat})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Run(runCtx) }()
	r := &rig{t: t, st: st, srv: srv, tokens: map[api.Role]string{}, stop: func() { cancel(); <-done }}
	t.Cleanup(r.stop)
	now := time.Now()
	for _, role := range []api.Role{api.RoleAdmin, api.RoleAnalyst, api.RoleAuditor} {
		tok, bearer, err := api.NewToken("test "+string(role), role, "tester", now.Add(time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		if role == api.RoleAuditor {
			tok.Controls = []string{"CC6.1"}
			tok.PeriodFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			tok.PeriodTo = time.Date(2026, 6, 30, 23, 59, 59, 0, time.UTC)
		}
		if err := st.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		r.tokens[role] = bearer
	}
	return r
}

func (r *rig) do(method, path, bearer, body string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRolesDecideWhatATokenMayDo(t *testing.T) {
	r := newRig(t)
	now := time.Now().UTC().Truncate(time.Second)
	if err := r.st.UpsertDevice(context.Background(), store.Device{DeviceID: "d-1", PublicKey: "UKEY", OS: "linux", EnrolledAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path string
		role               api.Role
		body               string
		want               int
	}{
		{"no token", "GET", "/api/v1/posture", "", "", 401},
		{"analyst reads posture", "GET", "/api/v1/posture", api.RoleAnalyst, "", 200},
		{"admin reads posture", "GET", "/api/v1/posture", api.RoleAdmin, "", 200},
		{"auditor may not read live posture", "GET", "/api/v1/posture", api.RoleAuditor, "", 403},
		{"bad instant", "GET", "/api/v1/posture?at=yesterday", api.RoleAnalyst, "", 400},
		{"analyst lists devices", "GET", "/api/v1/devices", api.RoleAnalyst, "", 200},
		{"analyst may not revoke", "POST", "/api/v1/devices/d-1/revoke", api.RoleAnalyst, `{"reason":"x"}`, 403},
		{"revoke needs a reason", "POST", "/api/v1/devices/d-1/revoke", api.RoleAdmin, `{}`, 400},
		{"revoke an unknown device", "POST", "/api/v1/devices/nope/revoke", api.RoleAdmin, `{"reason":"x"}`, 404},
		{"admin revokes", "POST", "/api/v1/devices/d-1/revoke", api.RoleAdmin, `{"reason":"stolen"}`, 200},
		{"everyone may ask who they are", "GET", "/api/v1/whoami", api.RoleAuditor, "", 200},
	}
	for _, c := range cases {
		code, body := r.do(c.method, c.path, r.tokens[c.role], c.body)
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if revoked, _ := r.st.Revoked(context.Background(), "d-1"); !revoked {
		t.Error("the admin's revocation was not stored")
	}
	code, body := r.do("GET", "/api/v1/posture", r.tokens[api.RoleAnalyst], "")
	var rep struct {
		Entries []struct{ DeviceID, CheckID, Status string }
	}
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || len(rep.Entries) == 0 || rep.Entries[0].Status != "unknown" {
		t.Errorf("posture for a device with no results: %d %s", code, body)
	}
}

func TestBadExpiredAndRevokedTokensAreRefused(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	past := time.Now().Add(-2 * time.Hour)
	expired, expiredBearer, _ := api.NewToken("old", api.RoleAdmin, "tester", past.Add(time.Hour), past)
	r.st.PutToken(ctx, expired)
	revoked, revokedBearer, _ := api.NewToken("gone", api.RoleAdmin, "tester", time.Now().Add(time.Hour), time.Now())
	r.st.PutToken(ctx, revoked)
	if code, _ := r.do("GET", "/api/v1/whoami", revokedBearer, ""); code != 200 {
		t.Fatalf("token before revocation: %d", code)
	}
	revoked.RevokedAt = time.Now()
	r.st.PutToken(ctx, revoked)
	admin := r.tokens[api.RoleAdmin]
	cases := map[string]string{
		"garbage":                 "hello",
		"right id, wrong secret":  admin[:strings.LastIndex(admin, "_")+1] + "wrongsecret",
		"unknown id":              "fpt_zzzzzzzz_abc",
		"expired":                 expiredBearer,
		"revoked":                 revokedBearer,
		"missing the fpt_ prefix": strings.TrimPrefix(admin, "fpt_"),
	}
	for name, bearer := range cases {
		if code, body := r.do("GET", "/api/v1/whoami", bearer, ""); code != 401 {
			t.Errorf("%s: %d %s, want 401", name, code, body)
		}
	}
}

func TestEveryCallLeavesAnAccessRecord(t *testing.T) {
	r := newRig(t)
	r.do("GET", "/api/v1/posture", r.tokens[api.RoleAnalyst], "")
	r.do("GET", "/api/v1/posture", r.tokens[api.RoleAuditor], "")
	r.do("GET", "/api/v1/devices", "", "")
	r.stop() // flushes the queue
	rows, err := r.st.Conn().Query(context.Background(), "SELECT role, method, path, status FROM api_access ORDER BY status")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var role, method, path string
		var status uint16
		rows.Scan(&role, &method, &path, &status)
		got = append(got, strings.Join([]string{role, method, path, http.StatusText(int(status))}, " "))
	}
	want := []string{"analyst GET /api/v1/posture OK", " GET /api/v1/devices Unauthorized", "auditor GET /api/v1/posture Forbidden"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("access records:\n got %q\nwant %q", got, want)
	}
}

func TestAuditorGrant(t *testing.T) {
	tok := store.Token{Role: "auditor", Controls: []string{"CC6.1", "CC7.1"},
		PeriodFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PeriodTo: time.Date(2026, 6, 30, 23, 59, 59, 0, time.UTC)}
	d := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	cases := []struct {
		name     string
		controls []string
		from, to time.Time
		ok       bool
	}{
		{"granted control and period", []string{"CC6.1"}, d("2026-01-01"), d("2026-06-30"), true},
		{"a control not granted", []string{"CC8.1"}, d("2026-01-01"), d("2026-06-30"), false},
		{"before the period", []string{"CC6.1"}, d("2025-12-31"), d("2026-06-30"), false},
		{"after the period", []string{"CC7.1"}, d("2026-01-01"), d("2026-07-02"), false},
	}
	for _, c := range cases {
		if err := api.AuditorGrant(tok, c.controls, c.from, c.to); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := api.AuditorGrant(store.Token{Role: "analyst"}, []string{"CC9.9"}, d("2000-01-01"), d("2030-01-01")); err != nil {
		t.Errorf("analysts are not limited: %v", err)
	}
}
