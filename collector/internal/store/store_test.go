package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// base is a fixed whole-second instant: DateTime columns keep seconds only,
// so round-trip comparisons must not depend on the wall clock's fraction.
var base = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func quietLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore opens dsn and closes the store when the test ends. It must be
// called after chtest.Database so the store is closed before the database
// is dropped (cleanups run last-registered first).
func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, quietLog(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freshDSN returns a DSN naming a database that does not exist yet on the
// shared server, dropped when the test ends, so Open has to create it.
func freshDSN(t *testing.T) string {
	t.Helper()
	dsn := chtest.Database(t) // for a unique, recognisable name and an admin-side drop
	name := dsn[strings.LastIndexByte(dsn, '/')+1:] + "_new"
	admin := chtest.Open(t, chtest.Server(t).DSN())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return "clickhouse://" + chtest.Server(t).Addr() + "/" + name
}

func count(t *testing.T, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// column reads a one-column String result.
func column(t *testing.T, conn driver.Conn, query string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// migrationCounts maps each recorded version to its number of logical rows
// (FINAL collapses the duplicates concurrent migrators may write).
func migrationCounts(t *testing.T, conn driver.Conn) map[uint32]uint64 {
	t.Helper()
	rows, err := conn.Query(t.Context(), "SELECT version, count() FROM schema_migrations FINAL GROUP BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uint32]uint64{}
	for rows.Next() {
		var v uint32
		var n uint64
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out[v] = n
	}
	return out
}

func wantMigrations(t *testing.T) map[uint32]uint64 {
	t.Helper()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	want := map[uint32]uint64{}
	for _, m := range ms {
		want[m.Version] = 1
	}
	return want
}

// Materialized views are listed in system.tables too, so they count.
var createTable = regexp.MustCompile(`(?i)^CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS ([A-Za-z_][A-Za-z0-9_]*)`)

// migratedTables lists, sorted, the tables the migrations create plus
// schema_migrations, so a new migration needs no edit here.
func migratedTables(t *testing.T) []string {
	t.Helper()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"schema_migrations"}
	for _, m := range ms {
		for _, st := range m.Statements {
			if g := createTable.FindStringSubmatch(st); g != nil {
				names = append(names, g[1])
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestOpenCreatesDatabaseAndAppliesMigrations(t *testing.T) {
	t.Parallel()
	dsn := freshDSN(t)
	s := openStore(t, dsn)
	conn := s.Conn()

	var db string
	if err := conn.QueryRow(t.Context(), "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dsn, "/"+db) {
		t.Fatalf("store works in database %q, DSN is %s", db, dsn)
	}
	got := column(t, conn, "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
	if want := migratedTables(t); !slices.Equal(got, want) {
		t.Errorf("tables = %v, want %v", got, want)
	}
	for _, core := range []string{"dead_letters", "devices", "gaps", "heartbeats", "results"} {
		if !slices.Contains(got, core) {
			t.Errorf("no %s table", core)
		}
	}
	if got, want := migrationCounts(t, conn), wantMigrations(t); !maps.Equal(got, want) {
		t.Errorf("schema_migrations versions = %v, want %v", got, want)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		concurrent bool
	}{
		{"sequentially", false},
		// Several collectors start at once against one ClickHouse: both
		// create the database and both may apply and record migrations.
		{"concurrently", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := freshDSN(t)
			stores := make([]*store.Store, 2)
			errs := make([]error, 2)
			open := func(i int) { stores[i], errs[i] = store.Open(t.Context(), dsn, quietLog(t)) }
			if tc.concurrent {
				var wg sync.WaitGroup
				for i := range stores {
					wg.Go(func() { open(i) })
				}
				wg.Wait()
			} else {
				for i := range stores {
					open(i)
				}
			}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Open #%d: %v", i+1, err)
				}
				t.Cleanup(func() { stores[i].Close() })
			}
			// A third Open sees everything applied and must not record again.
			s := openStore(t, dsn)
			if got, want := migrationCounts(t, s.Conn()), wantMigrations(t); !maps.Equal(got, want) {
				t.Errorf("logical schema_migrations rows per version = %v, want %v", got, want)
			}
			// The schema is usable after the race, not just recorded.
			if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{envelope("d1", 1, result("c1", base, evidence.StatusPass))}, base); err != nil {
				t.Fatalf("InsertEnvelopes after Open: %v", err)
			}
		})
	}
}

func TestOpenRejectsDatabaseNameThatNeedsQuoting(t *testing.T) {
	t.Parallel()
	// The name is spliced into CREATE DATABASE, so it must be refused
	// before any SQL is sent.
	_, err := store.Open(t.Context(), "clickhouse://127.0.0.1:1/fleet-proof", quietLog(t))
	if err == nil || !strings.Contains(err.Error(), "not a plain identifier") {
		t.Fatalf("Open = %v, want a database name error", err)
	}
}

func result(check string, at time.Time, st evidence.Status) evidence.Result {
	return evidence.Result{
		CheckID: check, CheckVersion: 2, Pack: "fleetproof-core", PackVersion: "1.0.0",
		ObservedAt: at, Status: st, DurationMS: 12, Engine: "builtin",
	}
}

func envelope(dev string, seq uint64, rs ...evidence.Result) *evidence.Envelope {
	return &evidence.Envelope{Schema: 1, DeviceID: dev, AgentVersion: "0.3.1", Seq: seq, SentAt: base, Results: rs}
}

// resultRow is one row of results as stored.
type resultRow struct {
	Device, Check       string
	Observed            time.Time
	Status              string
	CheckVersion        uint32
	Pack, PackVersion   string
	Rows, Reason, Error string
	Duration            uint32
	Engine, Agent       string
	Seq                 uint64
	Received            time.Time
}

func resultRows(t *testing.T, conn driver.Conn) []resultRow {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT device_id, check_id, observed_at, toString(status), check_version,
		pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, envelope_seq, received_at
		FROM results FINAL ORDER BY device_id, check_id, observed_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []resultRow
	for rows.Next() {
		var r resultRow
		if err := rows.Scan(&r.Device, &r.Check, &r.Observed, &r.Status, &r.CheckVersion, &r.Pack, &r.PackVersion,
			&r.Rows, &r.Reason, &r.Error, &r.Duration, &r.Engine, &r.Agent, &r.Seq, &r.Received); err != nil {
			t.Fatal(err)
		}
		r.Observed, r.Received = r.Observed.UTC(), r.Received.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInsertEnvelopesStoresExactValues(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	conn := s.Conn()

	fail := result("disk_encryption", base, evidence.StatusFail)
	fail.Rows = []map[string]string{{"device": "/dev/sda2", "encrypted": "0", "compliant": "0"}}
	fail.Reason = "1 of 1 rows not compliant"
	errRes := result("firewall", base.Add(time.Second), evidence.StatusError)
	errRes.Error, errRes.DurationMS, errRes.Engine = "osquery: no such table: alf", 30001, "osquery"
	na := result("macos_sip", base.Add(2*time.Second), evidence.StatusNotApplicable)
	na.Reason = "query returned no rows"
	// Out-of-range numbers are clamped to the UInt32 columns, not wrapped.
	na.CheckVersion, na.DurationMS = -1, 1<<40
	pass := result("screen_lock", base.Add(3*time.Second), evidence.StatusPass)
	pass.Rows = []map[string]string{} // an empty, non-nil slice is still "[]"

	e1 := envelope("dev-a", 7, fail, errRes)
	e1.Heartbeat = &evidence.Heartbeat{ObservedAt: base.Add(5 * time.Second), Hostname: "a.example", UptimeS: 86400, SpoolDepth: 3}
	e1.Gaps = []evidence.Gap{{From: base.Add(-2 * time.Hour), To: base.Add(-time.Hour), Dropped: 42, Reason: "spool full"}}
	e2 := envelope("dev-b", 9, na, pass)
	e2.AgentVersion = "0.4.0"
	// Received time is stored to the second; the fraction must not round up.
	recv := base.Add(time.Minute + 900*time.Millisecond)

	if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{e1, e2}, recv); err != nil {
		t.Fatal(err)
	}
	wantRecv := base.Add(time.Minute)
	want := []resultRow{
		{"dev-a", "disk_encryption", base, "fail", 2, "fleetproof-core", "1.0.0",
			`[{"compliant":"0","device":"/dev/sda2","encrypted":"0"}]`, "1 of 1 rows not compliant", "", 12, "builtin", "0.3.1", 7, wantRecv},
		{"dev-a", "firewall", base.Add(time.Second), "error", 2, "fleetproof-core", "1.0.0",
			"[]", "", "osquery: no such table: alf", 30001, "osquery", "0.3.1", 7, wantRecv},
		{"dev-b", "macos_sip", base.Add(2 * time.Second), "not_applicable", 0, "fleetproof-core", "1.0.0",
			"[]", "query returned no rows", "", 1<<32 - 1, "builtin", "0.4.0", 9, wantRecv},
		{"dev-b", "screen_lock", base.Add(3 * time.Second), "pass", 2, "fleetproof-core", "1.0.0",
			"[]", "", "", 12, "builtin", "0.4.0", 9, wantRecv},
	}
	got := resultRows(t, conn)
	if len(got) != len(want) {
		t.Fatalf("%d result rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	var hb struct {
		dev, host string
		obs, recv time.Time
		uptime    int64
		spool     uint32
		seq       uint64
	}
	if err := conn.QueryRow(t.Context(), `SELECT device_id, observed_at, hostname, uptime_s, spool_depth, envelope_seq, received_at
		FROM heartbeats FINAL`).Scan(&hb.dev, &hb.obs, &hb.host, &hb.uptime, &hb.spool, &hb.seq, &hb.recv); err != nil {
		t.Fatal(err)
	}
	if hb.dev != "dev-a" || !hb.obs.Equal(base.Add(5*time.Second)) || hb.host != "a.example" || hb.uptime != 86400 ||
		hb.spool != 3 || hb.seq != 7 || !hb.recv.Equal(wantRecv) {
		t.Errorf("heartbeat = %+v", hb)
	}
	if n := count(t, conn, "SELECT count() FROM heartbeats FINAL"); n != 1 {
		t.Errorf("%d heartbeats, want 1 (dev-b sent none)", n)
	}

	var gap struct {
		dev, reason string
		from, to    time.Time
		dropped     uint32
		seq         uint64
	}
	if err := conn.QueryRow(t.Context(), `SELECT device_id, gap_from, gap_to, dropped, reason, envelope_seq FROM gaps FINAL`).
		Scan(&gap.dev, &gap.from, &gap.to, &gap.dropped, &gap.reason, &gap.seq); err != nil {
		t.Fatal(err)
	}
	if gap.dev != "dev-a" || !gap.from.Equal(base.Add(-2*time.Hour)) || !gap.to.Equal(base.Add(-time.Hour)) ||
		gap.dropped != 42 || gap.reason != "spool full" || gap.seq != 7 {
		t.Errorf("gap = %+v", gap)
	}
}

func TestInsertEnvelopesWithoutRowsIsNoop(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	for _, envs := range [][]*evidence.Envelope{nil, {}} {
		if err := s.InsertEnvelopes(t.Context(), envs, base); err != nil {
			t.Errorf("InsertEnvelopes(%v) = %v", envs, err)
		}
	}
	// A heartbeat-only envelope writes no results and needs no results batch.
	hbOnly := &evidence.Envelope{Schema: 1, DeviceID: "d", Seq: 1, Heartbeat: &evidence.Heartbeat{ObservedAt: base}}
	if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{hbOnly}, base); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.Conn(), "SELECT count() FROM results"); n != 0 {
		t.Errorf("%d results, want 0", n)
	}
}

func TestInsertEnvelopesRedeliveryCountsOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	conn := s.Conn()

	withExtras := func(e *evidence.Envelope) *evidence.Envelope {
		e.Heartbeat = &evidence.Heartbeat{ObservedAt: base.Add(time.Hour), SpoolDepth: 1}
		e.Gaps = []evidence.Gap{{From: base.Add(-time.Hour), To: base, Dropped: 5, Reason: "spool full"}}
		return e
	}
	batch := []*evidence.Envelope{
		withExtras(envelope("dev-a", 1,
			result("disk_encryption", base, evidence.StatusPass),
			result("disk_encryption", base.Add(time.Hour), evidence.StatusFail),
			result("firewall", base, evidence.StatusPass))),
		envelope("dev-b", 1, result("disk_encryption", base, evidence.StatusPass)),
	}
	// The first delivery, a redelivery of the whole batch (ack lost), and a
	// batch where one duplicate rides along with new evidence.
	deliveries := [][]*evidence.Envelope{
		batch,
		batch,
		{batch[1], envelope("dev-b", 2, result("disk_encryption", base.Add(time.Hour), evidence.StatusFail))},
	}
	for i, d := range deliveries {
		// A later receive time must not create a new logical row either.
		if err := s.InsertEnvelopes(t.Context(), d, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}

	for table, want := range map[string]uint64{"results": 5, "heartbeats": 1, "gaps": 1} {
		if n := count(t, conn, "SELECT count() FROM "+table+" FINAL"); n != want {
			t.Errorf("%s FINAL: %d rows, want %d", table, n, want)
		}
	}
	latest, err := s.LatestResults(t.Context(), base.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(latest))
	for i, l := range latest {
		got[i] = fmt.Sprintf("%s/%s=%s@%s", l.DeviceID, l.CheckID, l.Status, l.ObservedAt.UTC().Format("15:04"))
	}
	want := []string{"dev-a/disk_encryption=fail@10:00", "dev-b/disk_encryption=fail@10:00", "dev-a/firewall=pass@09:00"}
	if !slices.Equal(got, want) {
		t.Errorf("LatestResults = %v, want %v", got, want)
	}
}

// Two runs of a check within one wall-clock second are two observations
// (observed_ns keeps them apart), and the later one is the latest even
// when it is inserted first.
func TestResultsWithinOneSecondAreDistinct(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	early := result("disk_encryption", base.Add(100*time.Millisecond), evidence.StatusPass)
	late := result("disk_encryption", base.Add(900*time.Millisecond), evidence.StatusFail)
	late.Reason = "later run"
	for _, e := range []*evidence.Envelope{envelope("dev-a", 2, late), envelope("dev-a", 1, early), envelope("dev-a", 2, late)} {
		if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{e}, base); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s.Conn(), "SELECT count() FROM results FINAL"); n != 2 {
		t.Errorf("results FINAL: %d rows, want 2 (two runs, one redelivered)", n)
	}
	var ns []uint32
	rows, err := s.Conn().Query(t.Context(), "SELECT observed_ns FROM results FINAL ORDER BY observed_ns")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n uint32
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	if !slices.Equal(ns, []uint32{100e6, 900e6}) {
		t.Errorf("observed_ns = %v, want [100000000 900000000]", ns)
	}
	ls, err := s.LatestResults(t.Context(), base.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Status != "fail" || ls[0].Reason != "later run" {
		t.Errorf("LatestResults = %+v, want the 900ms fail", ls)
	}
	// As of an instant between the two runs, the later one has not
	// happened yet, although both share the whole second.
	ls, err = s.LatestResults(t.Context(), base.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Status != "pass" {
		t.Errorf("LatestResults at +500ms = %+v, want the 100ms pass", ls)
	}
	ls, err = s.LatestResults(t.Context(), base.Add(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 0 {
		t.Errorf("LatestResults at +50ms = %+v, want nothing yet", ls)
	}
}

func TestLatestResultsAsOf(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))

	failing := result("disk_encryption", base.Add(2*time.Hour), evidence.StatusFail)
	failing.Rows = []map[string]string{{"device": "/dev/sdb1", "compliant": "0"}}
	failing.Reason = "1 volume unencrypted"
	broken := result("firewall", base.Add(time.Hour), evidence.StatusError)
	broken.Error = "timeout"
	envs := []*evidence.Envelope{
		envelope("dev-a", 1,
			result("disk_encryption", base, evidence.StatusPass),
			result("disk_encryption", base.Add(time.Hour), evidence.StatusPass),
			failing,
			result("firewall", base, evidence.StatusPass),
			broken),
		// dev-b's only result is after every instant but the last.
		envelope("dev-b", 1, result("disk_encryption", base.Add(3*time.Hour), evidence.StatusNotApplicable)),
	}
	if err := s.InsertEnvelopes(t.Context(), envs, base); err != nil {
		t.Fatal(err)
	}

	type row struct {
		dev, check, status string
		at                 time.Time
		reason, err, rows  string
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want []row
	}{
		{"before any result", base.Add(-time.Second), nil},
		{"exactly at the first result", base, []row{
			{"dev-a", "disk_encryption", "pass", base, "", "", "[]"},
			{"dev-a", "firewall", "pass", base, "", "", "[]"},
		}},
		{"between results ignores later ones", base.Add(90 * time.Minute), []row{
			{"dev-a", "disk_encryption", "pass", base.Add(time.Hour), "", "", "[]"},
			{"dev-a", "firewall", "error", base.Add(time.Hour), "", "timeout", "[]"},
		}},
		// Sub-second instants compare against whole-second observations.
		{"fraction after a result", base.Add(2*time.Hour + 500*time.Millisecond), []row{
			{"dev-a", "disk_encryption", "fail", base.Add(2 * time.Hour), "1 volume unencrypted", "", `[{"compliant":"0","device":"/dev/sdb1"}]`},
			{"dev-a", "firewall", "error", base.Add(time.Hour), "", "timeout", "[]"},
		}},
		{"after everything", base.Add(48 * time.Hour), []row{
			{"dev-a", "disk_encryption", "fail", base.Add(2 * time.Hour), "1 volume unencrypted", "", `[{"compliant":"0","device":"/dev/sdb1"}]`},
			{"dev-b", "disk_encryption", "not_applicable", base.Add(3 * time.Hour), "", "", "[]"},
			{"dev-a", "firewall", "error", base.Add(time.Hour), "", "timeout", "[]"},
		}},
		// A non-UTC instant means the same moment.
		{"instant in another zone", base.Add(90 * time.Minute).In(time.FixedZone("CET", 3600)), []row{
			{"dev-a", "disk_encryption", "pass", base.Add(time.Hour), "", "", "[]"},
			{"dev-a", "firewall", "error", base.Add(time.Hour), "", "timeout", "[]"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, err := s.LatestResults(t.Context(), tc.at)
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, l := range ls {
				got = append(got, row{l.DeviceID, l.CheckID, l.Status, l.ObservedAt.UTC(), l.Reason, l.Error, l.Rows})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("LatestResults(%s):\n got %+v\nwant %+v", tc.at, got, tc.want)
			}
		})
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	ctx := t.Context()

	v1 := store.Device{
		DeviceID: "dev-b", PublicKey: "UKEY1", Hostname: "old-name", OS: "linux", Platform: "debian",
		PlatformVersion: "12", KernelVersion: "6.1.0", Arch: "amd64", HardwareUUID: "HW-1", Serial: "SN1",
		AgentVersion: "0.3.0", Tags: map[string]string{"team": "infra"},
		EnrolledAt: base, UpdatedAt: base,
	}
	v2 := v1
	v2.Hostname, v2.AgentVersion, v2.PublicKey = "new-name", "0.4.0", "UKEY2"
	v2.Tags = map[string]string{"team": "infra", "env": "prod"}
	v2.UpdatedAt = base.Add(time.Hour)
	stale := v1
	stale.Hostname = "stale-write"
	stale.UpdatedAt = base.Add(30 * time.Minute) // arrives last, but is older than v2
	other := store.Device{DeviceID: "dev-a", OS: "darwin", EnrolledAt: base, UpdatedAt: base}

	for _, d := range []store.Device{v1, v2, other, stale} {
		if err := s.UpsertDevice(ctx, d); err != nil {
			t.Fatalf("UpsertDevice(%s): %v", d.DeviceID, err)
		}
	}

	got, err := s.Device(ctx, "dev-b")
	if err != nil {
		t.Fatal(err)
	}
	assertDevice(t, got, v2)

	all, err := s.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].DeviceID != "dev-a" || all[1].DeviceID != "dev-b" {
		t.Fatalf("Devices = %+v, want dev-a then dev-b", all)
	}
	// Nil tags are stored as an empty object, so they read back non-nil.
	want := other
	want.Tags = map[string]string{}
	assertDevice(t, all[0], want)
	assertDevice(t, all[1], v2)

	_, err = s.Device(ctx, "no-such-device")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Device(unknown) = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "no-such-device") {
		t.Errorf("error %q does not name the device", err)
	}
}

func assertDevice(t *testing.T, got, want store.Device) {
	t.Helper()
	if !got.EnrolledAt.Equal(want.EnrolledAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: enrolled %s updated %s, want %s and %s", want.DeviceID, got.EnrolledAt, got.UpdatedAt, want.EnrolledAt, want.UpdatedAt)
	}
	got.EnrolledAt, got.UpdatedAt, want.EnrolledAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !maps.Equal(got.Tags, want.Tags) || (got.Tags == nil) != (want.Tags == nil) {
		t.Errorf("%s: tags %#v, want %#v", want.DeviceID, got.Tags, want.Tags)
	}
	got.Tags, want.Tags = nil, nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("device:\n got %+v\nwant %+v", got, want)
	}
}

func TestDevicesEmpty(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	ds, err := s.Devices(t.Context())
	if err != nil || len(ds) != 0 {
		t.Fatalf("Devices = %v, %v; want none", ds, err)
	}
}

func TestInsertDeadLetters(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	conn := s.Conn()

	big := []byte(strings.Repeat("x", store.MaxDeadLetterPayload) + "TAIL")
	dl := store.DeadLetter{
		Stream: "EVIDENCE", StreamSeq: 41, Subject: "evidence.v1.dev-a.results", MsgID: "dev-a-3",
		DeviceID: "dev-a", Reason: "bad signature", Payload: []byte(`{"schema":1}`),
		ReceivedAt: base.Add(500 * time.Millisecond),
	}
	truncated := dl
	truncated.StreamSeq, truncated.Reason, truncated.Payload = 42, "malformed envelope", big

	// The same message refused twice (the first ack was lost) is one row.
	for i := range 2 {
		if err := s.InsertDeadLetters(t.Context(), []store.DeadLetter{dl, truncated}); err != nil {
			t.Fatalf("insert #%d: %v", i+1, err)
		}
	}
	if err := s.InsertDeadLetters(t.Context(), nil); err != nil {
		t.Errorf("InsertDeadLetters(nil) = %v", err)
	}
	if n := count(t, conn, "SELECT count() FROM dead_letters FINAL"); n != 2 {
		t.Errorf("dead_letters FINAL: %d rows, want 2", n)
	}

	rows, err := conn.Query(t.Context(), `SELECT stream, stream_seq, subject, msg_id, device_id, reason, payload, received_at
		FROM dead_letters FINAL ORDER BY stream_seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []store.DeadLetter
	for rows.Next() {
		var d store.DeadLetter
		var payload string
		if err := rows.Scan(&d.Stream, &d.StreamSeq, &d.Subject, &d.MsgID, &d.DeviceID, &d.Reason, &payload, &d.ReceivedAt); err != nil {
			t.Fatal(err)
		}
		d.Payload = []byte(payload)
		got = append(got, d)
	}
	if len(got) != 2 {
		t.Fatalf("%d rows", len(got))
	}
	for i, want := range []store.DeadLetter{dl, truncated} {
		g := got[i]
		if g.Stream != want.Stream || g.StreamSeq != want.StreamSeq || g.Subject != want.Subject || g.MsgID != want.MsgID ||
			g.DeviceID != want.DeviceID || g.Reason != want.Reason || !g.ReceivedAt.Equal(base) {
			t.Errorf("dead letter %d = %+v (payload elided)", want.StreamSeq, g)
		}
	}
	if string(got[0].Payload) != `{"schema":1}` {
		t.Errorf("small payload = %q", got[0].Payload)
	}
	if p := got[1].Payload; len(p) != store.MaxDeadLetterPayload || strings.Contains(string(p), "TAIL") {
		t.Errorf("large payload stored with %d bytes, want the first %d", len(p), store.MaxDeadLetterPayload)
	}
}

// TestDeadClickHouseFailsFast kills the server under an open store: ingest
// must get an error it can nack on, not block the consumer.
func TestDeadClickHouseFailsFast(t *testing.T) {
	t.Parallel()
	if _, _, err := chserver.Find(""); err != nil {
		chtest.Server(t) // skips or fails the same way every database test does
	}
	srv, err := chserver.Start(t.Context(), chserver.Options{Dir: t.TempDir(), Logger: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	s := openStore(t, "clickhouse://"+srv.Addr()+"/fleet")
	envs := []*evidence.Envelope{envelope("dev-a", 1, result("disk_encryption", base, evidence.StatusPass))}
	// Warm the pool so the store holds a connection that dies with the server.
	if err := s.InsertEnvelopes(t.Context(), envs, base); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}

	const deadline = 20 * time.Second
	for _, op := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"InsertEnvelopes", func(ctx context.Context) error { return s.InsertEnvelopes(ctx, envs, base) }},
		{"InsertEnvelopes again", func(ctx context.Context) error { return s.InsertEnvelopes(ctx, envs, base) }},
		{"InsertDeadLetters", func(ctx context.Context) error {
			return s.InsertDeadLetters(ctx, []store.DeadLetter{{Stream: "S", StreamSeq: 1}})
		}},
		{"LatestResults", func(ctx context.Context) error { _, err := s.LatestResults(ctx, base); return err }},
		{"Ping", s.Ping},
		{"Open", func(ctx context.Context) error {
			s2, err := store.Open(ctx, "clickhouse://"+srv.Addr()+"/fleet", quietLog(t))
			if err == nil {
				s2.Close()
			}
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		began := time.Now()
		err := op.run(ctx)
		took := time.Since(began)
		cancel()
		if err == nil {
			t.Errorf("%s against a killed server succeeded", op.name)
			continue
		}
		// Returning only because the context expired would mean ingest
		// stalls for its whole deadline on every batch.
		if errors.Is(err, context.DeadlineExceeded) || took >= deadline {
			t.Errorf("%s took %s and returned %v: it waited for the deadline instead of failing", op.name, took, err)
		}
		t.Logf("%s: %v after %s", op.name, err, took.Round(time.Millisecond))
	}
}
