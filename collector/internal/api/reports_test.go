package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/api"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

// newReportRig is newRig serving the report routes too, reading from
// data (the rig's own store when nil) while tokens stay in the rig's store.
func newReportRig(t *testing.T, data *store.Store) *rig {
	t.Helper()
	r := newRig(t)
	if data == nil {
		data = r.st
	}
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(&api.Authenticator{Store: r.st, TTL: time.Nanosecond}, r.st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	deps := api.Deps{Store: data, Catalog: cat}
	api.Register(a, deps)
	api.RegisterReports(a, deps)
	r.srv = httptest.NewServer(a)
	t.Cleanup(r.srv.Close)
	return r
}

func jan(day, hour int) time.Time { return time.Date(2026, 1, day, hour, 0, 0, 0, time.UTC) }

// seed stores three devices enrolled on 2025-12-25 and their evidence for
// CC6.1 (disk_encryption, screen_lock) on Jan 1-3 2026:
//   - mac (serial S-MAC): disk_encryption passes Jan 1, 2, 3; screen_lock
//     passes Jan 1 09:00 and Jan 2 09:00, fails Jan 2 10:00 (idle 3600 s),
//     passes Jan 2 14:00 and Jan 3 22:00;
//   - lin (S-LIN): disk_encryption only on Jan 1, screen_lock daily at
//     09:00, heartbeats until Jan 3 22:00, one spool gap of 17 results;
//   - win (S-WIN): enrolled, never reported.
func (r *rig) seed() {
	t, ctx := r.t, context.Background()
	t.Helper()
	enrolled := time.Date(2025, 12, 25, 0, 0, 0, 0, time.UTC)
	for _, d := range []store.Device{
		{DeviceID: "mac", Hostname: "mac.example", OS: "darwin", Serial: "S-MAC"},
		{DeviceID: "lin", Hostname: "lin.example", OS: "linux", Serial: "S-LIN"},
		{DeviceID: "win", Hostname: "win.example", OS: "windows", Serial: "S-WIN"},
	} {
		d.EnrolledAt, d.UpdatedAt = enrolled, enrolled
		if err := r.st.UpsertDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	res := func(check string, at time.Time, st evidence.Status) evidence.Result {
		return evidence.Result{CheckID: check, CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0", ObservedAt: at, Status: st}
	}
	fail := res("screen_lock", jan(2, 10), evidence.StatusFail)
	fail.Rows = []map[string]string{{"idle_seconds": "3600", "compliant": "0"}}
	fail.Reason = "1 of 1 rows not compliant"
	mac := &evidence.Envelope{Schema: 1, DeviceID: "mac", Seq: 1, Results: []evidence.Result{
		res("disk_encryption", jan(1, 9), evidence.StatusPass), res("screen_lock", jan(1, 9), evidence.StatusPass),
		res("disk_encryption", jan(2, 9), evidence.StatusPass), res("screen_lock", jan(2, 9), evidence.StatusPass),
		fail, res("screen_lock", jan(2, 14), evidence.StatusPass),
		res("disk_encryption", jan(3, 22), evidence.StatusPass), res("screen_lock", jan(3, 22), evidence.StatusPass),
	}}
	lin := &evidence.Envelope{Schema: 1, DeviceID: "lin", Seq: 1, Results: []evidence.Result{
		res("disk_encryption", jan(1, 9), evidence.StatusPass), res("screen_lock", jan(1, 9), evidence.StatusPass),
		res("screen_lock", jan(2, 9), evidence.StatusPass), res("screen_lock", jan(3, 9), evidence.StatusPass),
	}, Heartbeat: &evidence.Heartbeat{ObservedAt: jan(3, 22)},
		Gaps: []evidence.Gap{{From: jan(2, 0), To: jan(2, 8), Dropped: 17, Reason: "spool full"}}}
	if err := r.st.InsertEnvelopes(ctx, []*evidence.Envelope{mac, lin}, jan(4, 0)); err != nil {
		t.Fatal(err)
	}
}

// get calls the API and decodes a 2xx answer into v (when not nil).
func (r *rig) call(method, path string, role api.Role, body string, want int, v any) {
	r.t.Helper()
	code, out := r.do(method, path, r.tokens[role], body)
	if code != want {
		r.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, role, code, out, want)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			r.t.Fatalf("%s %s: %v\n%s", method, path, err, out)
		}
	}
}

type access struct {
	name, method, path string
	role               api.Role
	body               string
	want               int
}

func (r *rig) checkAccess(cases []access) {
	r.t.Helper()
	for _, c := range cases {
		if code, body := r.do(c.method, c.path, r.tokens[c.role], c.body); code != c.want {
			r.t.Errorf("%s: %s %s as %s: %d %s, want %d", c.name, c.method, c.path, c.role, code, body, c.want)
		}
	}
}

func TestHistoryRoute(t *testing.T) {
	r := newReportRig(t, nil)
	r.seed()
	var rep struct {
		DeviceID string `json:"device_id"`
		Entries  []struct {
			Status, Previous string
			Start, End       time.Time
			Observations     int
			Rows             []map[string]string
		}
	}
	summary := func() string {
		var got []string
		for _, e := range rep.Entries {
			got = append(got, fmt.Sprintf("%s>%s@%s..%s×%d", e.Previous, e.Status, e.Start.Format("02T15"), e.End.Format("02T15"), e.Observations))
		}
		return strings.Join(got, " ")
	}
	r.call("GET", "/api/v1/devices/mac/history?check=screen_lock", api.RoleAnalyst, "", 200, &rep)
	if want := ">pass@01T09..02T09×2 pass>fail@02T10..02T10×1 fail>pass@02T14..03T22×2"; summary() != want {
		t.Errorf("history:\n got %s\nwant %s", summary(), want)
	}
	if len(rep.Entries) == 3 && (len(rep.Entries[1].Rows) != 1 || rep.Entries[1].Rows[0]["idle_seconds"] != "3600") {
		t.Errorf("the failure's rows = %v", rep.Entries[1].Rows)
	}
	// A bare "to" date includes that day and nothing after it.
	r.call("GET", "/api/v1/devices/mac/history?check=screen_lock&to=2026-01-01", api.RoleAdmin, "", 200, &rep)
	if want := ">pass@01T09..01T09×1"; summary() != want {
		t.Errorf("history to Jan 1: %s, want %s", summary(), want)
	}
	r.checkAccess([]access{
		{"auditor refused", "GET", "/api/v1/devices/mac/history", api.RoleAuditor, "", 403},
		{"unknown device", "GET", "/api/v1/devices/nope/history", api.RoleAnalyst, "", 404},
		{"bad from", "GET", "/api/v1/devices/mac/history?from=last+week", api.RoleAnalyst, "", 400},
		{"unknown check", "GET", "/api/v1/devices/mac/history?check=nope", api.RoleAnalyst, "", 400},
	})
}

func TestComplianceRoute(t *testing.T) {
	r := newReportRig(t, nil)
	r.seed()
	type device struct {
		DeviceID           string `json:"device_id"`
		Status             string
		Compliant          int    `json:"compliant_days"`
		Failing            int    `json:"failing_days"`
		NoEvidence         int    `json:"no_evidence_days"`
		RemediationSeconds *int64 `json:"remediation_s"`
	}
	var rep struct {
		Days    int
		Checks  []string
		Devices []device
		Fleet   struct{ Devices, Compliant, Partial, NoEvidence, Failed, Remediated int }
	}
	r.call("GET", "/api/v1/compliance?check=screen_lock&from=2026-01-01&to=2026-01-03", api.RoleAnalyst, "", 200, &rep)
	got := map[string]device{}
	for _, d := range rep.Devices {
		got[d.DeviceID] = d
	}
	// screen_lock alone: mac fails on Jan 2 (remediated 10:00 → 14:00),
	// lin passes every day, win never reported.
	if mac := got["mac"]; mac.Status != "partial" || mac.Compliant != 2 || mac.Failing != 1 || mac.RemediationSeconds == nil || *mac.RemediationSeconds != 4*3600 {
		t.Errorf("mac = %+v", mac)
	}
	if lin := got["lin"]; lin.Status != "compliant" || lin.Compliant != 3 {
		t.Errorf("lin = %+v", lin)
	}
	if win := got["win"]; win.Status != "no_evidence" || win.NoEvidence != 3 {
		t.Errorf("win = %+v", win)
	}
	if f := rep.Fleet; rep.Days != 3 || f.Devices != 3 || f.Compliant != 1 || f.Partial != 1 || f.Failed != 1 || f.Remediated != 1 {
		t.Errorf("days %d, fleet %+v", rep.Days, f)
	}

	// The auditor asks by a granted control within the granted period.
	// CC6.1 needs both checks each day: lin has no disk_encryption after Jan 1.
	var trend struct {
		Checks []string
		Trend  []struct {
			Day                                string
			Devices, Passing, Failing, Unknown int
		}
	}
	r.call("GET", "/api/v1/compliance?control=CC6.1&from=2026-01-01&to=2026-01-03&trend=1", api.RoleAuditor, "", 200, &trend)
	var days []string
	for _, d := range trend.Trend {
		days = append(days, fmt.Sprintf("%s:%d/%d/%d/%d", d.Day, d.Devices, d.Passing, d.Failing, d.Unknown))
	}
	if want := "2026-01-01:3/2/0/1 2026-01-02:3/0/1/2 2026-01-03:3/1/0/2"; strings.Join(days, " ") != want ||
		strings.Join(trend.Checks, ",") != "disk_encryption,screen_lock" {
		t.Errorf("trend %v of %v, want %s", days, trend.Checks, want)
	}
	r.checkAccess([]access{
		{"admin by control", "GET", "/api/v1/compliance?control=CC6.1&from=2026-01-01&to=2026-01-03", api.RoleAdmin, "", 200},
		{"auditor by check", "GET", "/api/v1/compliance?check=screen_lock&from=2026-01-01&to=2026-01-03", api.RoleAuditor, "", 403},
		{"auditor, control not granted", "GET", "/api/v1/compliance?control=CC7.1&from=2026-01-01&to=2026-01-03", api.RoleAuditor, "", 403},
		{"auditor, outside the period", "GET", "/api/v1/compliance?control=CC6.1&from=2025-12-01&to=2026-01-03", api.RoleAuditor, "", 403},
		{"auditor, the whole period", "GET", "/api/v1/compliance?control=CC6.1&from=2026-01-01&to=2026-06-30", api.RoleAuditor, "", 200},
		{"both check and control", "GET", "/api/v1/compliance?check=screen_lock&control=CC6.1&from=2026-01-01&to=2026-01-03", api.RoleAnalyst, "", 400},
		{"missing period", "GET", "/api/v1/compliance?control=CC6.1", api.RoleAnalyst, "", 400},
		{"bad date", "GET", "/api/v1/compliance?control=CC6.1&from=2026-13-01&to=2026-12-31", api.RoleAnalyst, "", 400},
		{"to before from", "GET", "/api/v1/compliance?control=CC6.1&from=2026-01-03&to=2026-01-01", api.RoleAnalyst, "", 400},
		{"unknown control", "GET", "/api/v1/compliance?control=CC99.9&from=2026-01-01&to=2026-01-03", api.RoleAnalyst, "", 400},
		{"unknown check", "GET", "/api/v1/compliance?check=nope&from=2026-01-01&to=2026-01-03", api.RoleAnalyst, "", 400},
	})
}

func TestStaleRoute(t *testing.T) {
	r := newReportRig(t, nil)
	r.seed()
	var rep struct {
		WindowSeconds int64 `json:"window_s"`
		Devices       int
		Stale         []struct {
			DeviceID string `json:"device_id"`
			Reason   string
		}
		Gaps []struct {
			DeviceID string `json:"device_id"`
			Dropped  int
		}
	}
	stale := func() string {
		var got []string
		for _, s := range rep.Stale {
			got = append(got, s.DeviceID+"="+s.Reason)
		}
		return strings.Join(got, " ")
	}
	// At Jan 3 23:00 with the default 3 h window (3 × the 1 h shortest
	// interval): mac reported at 22:00, lin's last result was at 09:00
	// (heartbeats since), win never reported.
	r.call("GET", "/api/v1/stale?at=2026-01-03T23:00:00Z&gaps_from=2026-01-01", api.RoleAnalyst, "", 200, &rep)
	if rep.WindowSeconds != 3*3600 || rep.Devices != 3 || stale() != "win=never_reported lin=no_results" {
		t.Errorf("window %ds, %d devices, stale %s", rep.WindowSeconds, rep.Devices, stale())
	}
	if len(rep.Gaps) != 1 || rep.Gaps[0].DeviceID != "lin" || rep.Gaps[0].Dropped != 17 {
		t.Errorf("gaps = %+v", rep.Gaps)
	}
	r.call("GET", "/api/v1/stale?at=2026-01-03T23:00:00Z&window=24h", api.RoleAdmin, "", 200, &rep)
	if stale() != "win=never_reported" {
		t.Errorf("24 h window: %s", stale())
	}
	r.checkAccess([]access{
		{"auditor refused", "GET", "/api/v1/stale", api.RoleAuditor, "", 403},
		{"negative window", "GET", "/api/v1/stale?window=-1h", api.RoleAnalyst, "", 400},
		{"bad window", "GET", "/api/v1/stale?window=soon", api.RoleAnalyst, "", 400},
		{"bad instant", "GET", "/api/v1/stale?at=tuesday", api.RoleAnalyst, "", 400},
	})
}

func TestInventoryAndReconcileRoutes(t *testing.T) {
	r := newReportRig(t, nil)
	r.seed()
	csv := "Serial Number,Computer Name,Managed\nS-MAC,mac.example,Yes\nS-GONE,gone.example,Yes\nS-OLD,old.example,No\n"
	r.checkAccess([]access{
		{"nothing imported yet", "GET", "/api/v1/reconcile", api.RoleAnalyst, "", 404},
		{"analyst may not import", "POST", "/api/v1/inventory", api.RoleAnalyst, csv, 403},
		{"auditor may not list", "GET", "/api/v1/inventory", api.RoleAuditor, "", 403},
		{"empty upload", "POST", "/api/v1/inventory", api.RoleAdmin, "", 400},
		{"no serial column", "POST", "/api/v1/inventory", api.RoleAdmin, "Color,Size\nred,9\n", 400},
	})
	var imp struct {
		Snapshot struct {
			ID, Source string
			ImportedBy string `json:"imported_by"`
		}
		InScope int `json:"in_scope"`
	}
	r.call("POST", "/api/v1/inventory?source=jamf", api.RoleAdmin, csv, 201, &imp)
	if imp.Snapshot.Source != "jamf" || imp.InScope != 2 || !strings.HasPrefix(imp.Snapshot.ImportedBy, "token:") {
		t.Errorf("import = %+v", imp)
	}
	var snaps []struct {
		ID   string
		Rows int
	}
	r.call("GET", "/api/v1/inventory", api.RoleAnalyst, "", 200, &snaps)
	if len(snaps) != 1 || snaps[0].ID != imp.Snapshot.ID || snaps[0].Rows != 3 {
		t.Errorf("snapshots = %+v", snaps)
	}

	// S-MAC matches mac, S-GONE never enrolled, S-OLD is out of scope;
	// lin and win are enrolled but not in the inventory: 1 of 2 in scope.
	var rec struct {
		Summary struct {
			InventoryRows                      int `json:"inventory_rows"`
			InScope                            int `json:"in_scope"`
			Matched, Missing, Devices, Unknown int
			OutOfScope                         int     `json:"out_of_scope"`
			Coverage                           float64 `json:"coverage_percent"`
		}
		Rows []struct {
			Status, Serial string
			DeviceID       string `json:"device_id"`
		}
	}
	r.call("GET", "/api/v1/reconcile?snapshot="+imp.Snapshot.ID, api.RoleAnalyst, "", 200, &rec)
	s := rec.Summary
	if s.InventoryRows != 3 || s.InScope != 2 || s.Matched != 1 || s.Missing != 1 || s.OutOfScope != 1 || s.Devices != 3 || s.Unknown != 2 || s.Coverage != 50 {
		t.Errorf("summary = %+v", s)
	}
	var rows []string
	for _, row := range rec.Rows {
		rows = append(rows, row.Status+":"+row.Serial+row.DeviceID)
	}
	if want := "missing:S-GONE unknown:lin unknown:win matched:S-MACmac out_of_scope:S-OLD"; strings.Join(rows, " ") != want {
		t.Errorf("rows %v, want %s", rows, want)
	}
	r.checkAccess([]access{
		{"newest snapshot by default", "GET", "/api/v1/reconcile", api.RoleAdmin, "", 200},
		{"before any import", "GET", "/api/v1/reconcile?at=2026-01-01", api.RoleAnalyst, "", 404},
		{"unknown snapshot", "GET", "/api/v1/reconcile?snapshot=inv-nope", api.RoleAnalyst, "", 404},
		{"bad instant", "GET", "/api/v1/reconcile?at=01/02/2026", api.RoleAnalyst, "", 400},
		{"auditor refused", "GET", "/api/v1/reconcile", api.RoleAuditor, "", 403},
	})

	// A multipart form carries a mapping for headers the defaults miss;
	// without an in-scope column every row is in scope.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("file", "Asset Tag,Host\nS-LIN,lin.example\nS-NEW,new.example\n")
	mw.WriteField("mapping", "columns:\n  serial: Asset Tag\n")
	mw.Close()
	req, _ := http.NewRequest("POST", r.srv.URL+"/api/v1/inventory", &buf)
	req.Header.Set("Authorization", "Bearer "+r.tokens[api.RoleAdmin])
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&imp); resp.StatusCode != 201 || err != nil || imp.InScope != 2 || imp.Snapshot.Source != "api-upload" {
		t.Errorf("multipart import: %d %v %+v", resp.StatusCode, err, imp)
	}
}

func TestExceptionRoutes(t *testing.T) {
	r := newReportRig(t, nil)
	r.seed()
	expires := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	body := `{"check":"disk_encryption","device":"lin","reason":"replacement on order","approved_by":"ciso@example.com","expires":"` + expires + `"}`
	r.checkAccess([]access{
		{"analyst may not grant", "POST", "/api/v1/exceptions", api.RoleAnalyst, body, 403},
		{"auditor may not list", "GET", "/api/v1/exceptions", api.RoleAuditor, "", 403},
		{"unknown check", "POST", "/api/v1/exceptions", api.RoleAdmin, strings.Replace(body, "disk_encryption", "nope", 1), 400},
		{"device not enrolled", "POST", "/api/v1/exceptions", api.RoleAdmin, strings.Replace(body, `"lin"`, `"ghost"`, 1), 400},
		{"not JSON", "POST", "/api/v1/exceptions", api.RoleAdmin, "check=disk_encryption", 400},
		{"bad expiry", "POST", "/api/v1/exceptions", api.RoleAdmin, strings.Replace(body, expires, "next month", 1), 400},
		{"revoke an unknown exception", "POST", "/api/v1/exceptions/exc-nope/revoke", api.RoleAdmin, "", 404},
		{"bad instant", "GET", "/api/v1/exceptions?at=soon", api.RoleAnalyst, "", 400},
	})
	type record struct {
		ID, Status string
		CheckID    string `json:"check_id"`
		DeviceID   string `json:"device_id"`
		ApprovedBy string `json:"approved_by"`
		Expires    time.Time
		RevokedBy  string `json:"revoked_by"`
	}
	var granted record
	r.call("POST", "/api/v1/exceptions", api.RoleAdmin, body, 201, &granted)
	// A bare expiry date means the end of that day (UTC).
	if granted.Status != "active" || granted.DeviceID != "lin" || granted.ApprovedBy != "ciso@example.com" ||
		granted.Expires.Format(time.RFC3339) != expires+"T23:59:59Z" {
		t.Errorf("granted %+v", granted)
	}
	var list []record
	r.call("GET", "/api/v1/exceptions?active=1", api.RoleAnalyst, "", 200, &list)
	if len(list) != 1 || list[0].ID != granted.ID {
		t.Errorf("active exceptions = %+v", list)
	}
	revoke := "/api/v1/exceptions/" + granted.ID + "/revoke"
	r.checkAccess([]access{{"analyst may not revoke", "POST", revoke, api.RoleAnalyst, "", 403}})
	var revoked record
	r.call("POST", revoke, api.RoleAdmin, "", 200, &revoked)
	adminID := strings.Split(r.tokens[api.RoleAdmin], "_")[1]
	if revoked.Status != "revoked" || !strings.HasPrefix(revoked.RevokedBy, "token:"+adminID+" ") {
		t.Errorf("revoked %+v", revoked)
	}
	r.checkAccess([]access{{"revoked twice", "POST", revoke, api.RoleAdmin, "", 409}})
	r.call("GET", "/api/v1/exceptions?active=1", api.RoleAnalyst, "", 200, &list)
	if len(list) != 0 {
		t.Errorf("active after revocation = %+v", list)
	}
	r.call("GET", "/api/v1/exceptions", api.RoleAnalyst, "", 200, &list)
	if len(list) != 1 || list[0].Status != "revoked" {
		t.Errorf("all exceptions = %+v", list)
	}
}

// With the tokens readable but the fleet data's store down, every report
// answers 503 rather than a 500 carrying the driver's error.
func TestReportsAnswer503WhenStorageIsDown(t *testing.T) {
	down, err := store.Open(context.Background(), chtest.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	r := newReportRig(t, down)
	for _, p := range []string{"/api/v1/devices/mac/history", "/api/v1/compliance?control=CC6.1&from=2026-01-01&to=2026-01-03",
		"/api/v1/stale", "/api/v1/reconcile", "/api/v1/exceptions", "/api/v1/inventory"} {
		if code, body := r.do("GET", p, r.tokens[api.RoleAnalyst], ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "storage unavailable") {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
}
