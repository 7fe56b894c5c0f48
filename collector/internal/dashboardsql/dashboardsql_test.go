package dashboardsql_test

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/dashboards/dashtest"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// open returns a store on a fresh database holding the seed fleet, written
// the way the collector writes it: envelopes through InsertEnvelopes (the
// redelivered one twice), devices through UpsertDevice.
func open(t *testing.T) *store.Store {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, chtest.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := dashtest.Seed()
	for _, d := range f.Devices {
		err := st.UpsertDevice(ctx, store.Device{DeviceID: d.ID, PublicKey: d.PublicKey, Hostname: d.Hostname, OS: d.OS,
			Platform: d.Platform, PlatformVersion: d.PlatformVersion, KernelVersion: d.KernelVersion, Arch: d.Arch,
			HardwareUUID: d.HardwareUUID, Serial: d.Serial, AgentVersion: d.AgentVersion, Tags: d.Tags,
			EnrolledAt: d.EnrolledAt, UpdatedAt: d.UpdatedAt})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range f.Deliveries {
		if err := st.InsertEnvelopes(ctx, []*evidence.Envelope{d.Envelope}, d.ReceivedAt); err != nil {
			t.Fatal(err)
		}
	}
	var dls []store.DeadLetter
	for _, d := range f.DeadLetters {
		dls = append(dls, store.DeadLetter{Stream: d.Stream, StreamSeq: d.StreamSeq, Subject: d.Subject, MsgID: d.MsgID,
			DeviceID: d.DeviceID, Reason: d.Reason, Payload: []byte(d.Payload), ReceivedAt: d.ReceivedAt})
	}
	if err := st.InsertDeadLetters(ctx, dls); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Revocations {
		if err := st.Revoke(ctx, store.Revocation{DeviceID: r.DeviceID, PublicKey: r.PublicKey, RevokedAt: r.RevokedAt,
			Reason: r.Reason, RevokedBy: r.RevokedBy}); err != nil {
			t.Fatal(err)
		}
	}
	// The store's AddException stamps the current time and a random id;
	// the seed needs fixed ones, so its rows go in with the same columns.
	b, err := st.Conn().PrepareBatch(ctx, `INSERT INTO exceptions (id, device_id, tag, check_id, reason, approved_by,
		created_at, expires, revoked_at, revoked_by, version)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Exceptions {
		if err := b.Append(e.ID, e.DeviceID, e.Tag, e.CheckID, e.Reason, e.ApprovedBy, e.CreatedAt.UTC(), e.Expires.UTC(),
			e.StoredRevokedAt(), e.RevokedBy, e.Version); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStatementsRunOnClickHouse18 runs every dashboard statement in every
// scenario and compares the key panels with dashtest.Expected, the same
// rows the 26.x run must return.
func TestStatementsRunOnClickHouse18(t *testing.T) {
	st := open(t)
	qs, err := dashtest.Queries()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]dashtest.Expectation{}
	for _, e := range dashtest.Expected() {
		want[e.Scenario+"/"+e.Panel] = e
	}
	ran := 0
	for _, s := range dashtest.Scenarios() {
		for _, q := range qs {
			t.Run(s.Name+"/"+q.Where, func(t *testing.T) {
				sql, err := q.Expand(s)
				if err != nil {
					t.Fatal(err)
				}
				cols, rows, err := query(t, st.Conn(), sql)
				if err != nil {
					t.Fatalf("%v\n%s", err, sql)
				}
				ran++
				e, ok := want[s.Name+"/"+q.Panel]
				if !ok || q.Panel == "" {
					return
				}
				if !slices.Equal(cols, e.Columns) {
					t.Errorf("columns %q, want %q", cols, e.Columns)
				}
				if !slices.Equal(rows, e.Rows) {
					t.Errorf("rows:\n got %s\nwant %s", strings.Join(rows, "\n    "), strings.Join(e.Rows, "\n    "))
				}
			})
		}
	}
	if want := len(qs) * len(dashtest.Scenarios()); ran != want {
		t.Errorf("ran %d statements, want %d", ran, want)
	}
}

// TestPostureAgreesWithStore checks the dashboards' "latest result per
// device and check" against the collector's own LatestResults at the end
// of the range: the compliance counts per check must be the same.
func TestPostureAgreesWithStore(t *testing.T) {
	st := open(t)
	latest, err := st.LatestResults(t.Context(), dashtest.To)
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ devices, pass, fail, errs, na int }
	byCheck := map[string]*counts{}
	var checks []string
	for _, l := range latest {
		c := byCheck[l.CheckID]
		if c == nil {
			c = &counts{}
			byCheck[l.CheckID] = c
			checks = append(checks, l.CheckID)
		}
		c.devices++
		switch l.Status {
		case "pass":
			c.pass++
		case "fail":
			c.fail++
		case "error":
			c.errs++
		case "not_applicable":
			c.na++
		}
	}
	slices.Sort(checks)
	var got []string
	for _, id := range checks {
		c := byCheck[id]
		got = append(got, dashtest.TSV(id, strconv.Itoa(c.devices), strconv.Itoa(c.pass), strconv.Itoa(c.fail),
			strconv.Itoa(c.errs), strconv.Itoa(c.na)))
	}
	for _, e := range dashtest.Expected() {
		if e.Scenario != "all" || e.Panel != "Compliance by check" {
			continue
		}
		var want []string
		for _, r := range e.Rows {
			want = append(want, r[:strings.LastIndex(r, "\t")]) // without compliance_pct
		}
		if !slices.Equal(got, want) {
			t.Errorf("store.LatestResults counts:\n got %q\npanel %q", got, want)
		}
		return
	}
	t.Fatal("no expectation for the Compliance by check panel")
}

// query runs sql and returns its column names and its rows as ClickHouse's
// TabSeparated text would show them, so they compare with the 26.x output.
func query(t *testing.T, conn driver.Conn, sql string) ([]string, []string, error) {
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out []string
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		fields := make([]string, len(dest))
		for i, d := range dest {
			fields[i] = tsv(reflect.ValueOf(d).Elem())
		}
		out = append(out, strings.Join(fields, "\t"))
	}
	return rows.Columns(), out, rows.Err()
}

func tsv(v reflect.Value) string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return `\N`
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case string:
		return dashtest.TSVField(x)
	case time.Time:
		return x.UTC().Format(time.DateTime)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}
