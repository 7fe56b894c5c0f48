package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/api"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

func TestExtractDownloadIsAVerifiableZipWithinTheGrant(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, chtest.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	enrolled := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	st.UpsertDevice(ctx, store.Device{DeviceID: "d-1", PublicKey: "UKEY", Hostname: "Zoë's MacBook", OS: "darwin", EnrolledAt: enrolled, UpdatedAt: enrolled})
	st.InsertEnvelopes(ctx, []*evidence.Envelope{{Schema: 1, DeviceID: "d-1", Seq: 1, Results: []evidence.Result{{
		CheckID: "disk_encryption", CheckVersion: 1, ObservedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Status: evidence.StatusPass}}}},
		time.Date(2026, 3, 1, 9, 1, 0, 0, time.UTC))
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	a := api.New(&api.Authenticator{Store: st, TTL: time.Nanosecond}, st, nil)
	api.RegisterExtract(a, api.ExtractDeps{Store: st, Catalog: cat, Key: key, Version: "test", TempDir: t.TempDir()})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	bearer := map[api.Role]string{}
	now := time.Now()
	for _, role := range []api.Role{api.RoleAnalyst, api.RoleAuditor} {
		tok, b, err := api.NewToken("t", role, "tester", now.Add(time.Hour), now)
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
		bearer[role] = b
	}
	get := func(role api.Role, query string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/extract?"+query, nil)
		if role != "" {
			req.Header.Set("Authorization", "Bearer "+bearer[role])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	granted := "controls=CC6.1&from=2026-01-01&to=2026-06-30&sample=1"
	for _, c := range []struct {
		name  string
		role  api.Role
		query string
		want  int
	}{
		{"auditor within the grant", api.RoleAuditor, granted, 200},
		{"analyst, any control", api.RoleAnalyst, "controls=CC7.1&from=2025-01-01&to=2025-12-31", 200},
		{"auditor, a control not granted", api.RoleAuditor, "controls=CC6.1,CC7.1&from=2026-01-01&to=2026-06-30", 403},
		{"auditor, a day past the grant", api.RoleAuditor, "controls=CC6.1&from=2026-01-01&to=2026-07-01", 403},
		{"no token", "", granted, 401},
		{"no period", api.RoleAnalyst, "controls=CC6.1", 400},
		{"a bad date", api.RoleAnalyst, "controls=CC6.1&from=2026-1-1&to=2026-06-30", 400},
		{"a control without checks", api.RoleAnalyst, "controls=CC9.9&from=2026-01-01&to=2026-06-30", 400},
		{"a bad seed", api.RoleAnalyst, granted + "&seed=x", 400},
		{"every result", api.RoleAnalyst, granted + "&all_results=true", 200},
		{"a bad all_results", api.RoleAnalyst, granted + "&all_results=maybe", 400},
	} {
		if resp, body := get(c.role, c.query); resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
	}

	resp, body := get(api.RoleAuditor, granted)
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/zip" ||
		!strings.Contains(cd, "fleetproof-extract_CC6.1_2026-01-01_2026-06-30.zip") {
		t.Errorf("headers %q %q", ct, cd)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, b, 0o644)
	}
	res, err := extract.Verify(filepath.Join(dir, "fleetproof-extract_CC6.1_2026-01-01_2026-06-30"), resp.Header.Get("X-Fleetproof-Key-Fingerprint"))
	if err != nil || !res.OK() || res.Fingerprint != extract.Fingerprint(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("the downloaded bundle does not verify: %v %v", err, res)
	}
	if _, again := get(api.RoleAuditor, granted); !bytes.Equal(body, again) {
		t.Error("two downloads of the same extract differ")
	}
	// sample=0 draws no device, so evidence.csv is its header alone unless
	// every result is asked for.
	for q, want := range map[string]int{"": 1, "&all_results=true": 2} {
		_, body := get(api.RoleAnalyst, "controls=CC6.1&from=2026-01-01&to=2026-06-30&sample=0"+q)
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if filepath.Base(f.Name) == extract.EvidenceFile {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				if n := strings.Count(string(b), "\r\n"); n != want {
					t.Errorf("all_results=%q: evidence.csv has %d lines, want %d", q, n, want)
				}
			}
		}
	}
}
