package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestEachResultListsThePeriodOnceInOrder(t *testing.T) {
	s := openStore(t, chtest.Database(t))
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	res := func(check string, obs time.Time, status evidence.Status) evidence.Result {
		return evidence.Result{CheckID: check, CheckVersion: 2, Pack: "fleetproof-core", PackVersion: "1.0.0", ObservedAt: obs,
			Status: status, Rows: []map[string]string{{"compliant": "1"}}, Reason: "r", DurationMS: 7, Engine: "builtin"}
	}
	env := func(dev string, rs ...evidence.Result) *evidence.Envelope {
		return &evidence.Envelope{Schema: 1, DeviceID: dev, AgentVersion: "0.4.0", Seq: 1, Results: rs}
	}
	first := []*evidence.Envelope{
		env("dev-b", res("disk_encryption", from.Add(time.Hour), evidence.StatusPass)),
		env("dev-a",
			res("disk_encryption", from.Add(-time.Nanosecond), evidence.StatusPass),             // before
			res("disk_encryption", from, evidence.StatusFail),                                   // first instant
			res("disk_encryption", to.Add(-100*time.Millisecond), evidence.StatusPass),          // last second
			res("disk_encryption", to, evidence.StatusPass),                                     // after
			res("screen_lock", from.Add(2*time.Hour+250*time.Millisecond), evidence.StatusPass), // sub-second kept
			res("screen_lock", from.Add(2*time.Hour), evidence.StatusFail),                      // same second, earlier
			res("firewall", from.Add(time.Hour), evidence.StatusPass)),                          // not asked for
	}
	if err := s.InsertEnvelopes(t.Context(), first, time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	// A redelivery of dev-b's envelope: listed once, as received last.
	resent := time.Date(2026, 7, 3, 0, 0, 0, 0, time.UTC)
	if err := s.InsertEnvelopes(t.Context(), first[:1], resent); err != nil {
		t.Fatal(err)
	}
	var got []string
	var rows []store.ResultRow
	err := s.EachResult(t.Context(), []string{"disk_encryption", "screen_lock"}, nil, from, to, func(r store.ResultRow) error {
		got = append(got, r.DeviceID+" "+r.CheckID+" "+r.ObservedAt.Format(time.RFC3339Nano)+" "+r.Status)
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dev-a disk_encryption 2026-01-01T00:00:00Z fail",
		"dev-a disk_encryption 2026-06-30T23:59:59.9Z pass",
		"dev-a screen_lock 2026-01-01T02:00:00Z fail",
		"dev-a screen_lock 2026-01-01T02:00:00.25Z pass",
		"dev-b disk_encryption 2026-01-01T01:00:00Z pass",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EachResult:\n got %q\nwant %q", got, want)
	}
	r := rows[0]
	if r.CheckVersion != 2 || r.Pack != "fleetproof-core" || r.PackVersion != "1.0.0" || r.Rows != `[{"compliant":"1"}]` ||
		r.Reason != "r" || r.DurationMS != 7 || r.Engine != "builtin" || r.AgentVersion != "0.4.0" {
		t.Errorf("columns not read back: %+v", r)
	}
	if !rows[4].ReceivedAt.Equal(resent) {
		t.Errorf("redelivered row received_at %s, want the later copy's %s", rows[4].ReceivedAt, resent)
	}

	for _, c := range []struct {
		devices []string
		want    []string
	}{
		{[]string{"dev-b"}, want[4:]},
		{[]string{"dev-a", "dev-unknown"}, want[:4]},
		{[]string{}, nil},
	} {
		var only []string
		err := s.EachResult(t.Context(), []string{"disk_encryption", "screen_lock"}, c.devices, from, to, func(r store.ResultRow) error {
			only = append(only, r.DeviceID+" "+r.CheckID+" "+r.ObservedAt.Format(time.RFC3339Nano)+" "+r.Status)
			return nil
		})
		if err != nil || !slices.Equal(only, c.want) {
			t.Errorf("EachResult of devices %q: got %q, %v; want %q", c.devices, only, err, c.want)
		}
	}

	stop := errors.New("stop")
	n := 0
	if err := s.EachResult(t.Context(), []string{"disk_encryption"}, nil, from, to, func(store.ResultRow) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("an error from fn: got %v after %d rows, want it returned after 1", err, n)
	}
	if err := s.EachResult(t.Context(), nil, nil, from, to, func(store.ResultRow) error { t.Error("called"); return nil }); err != nil {
		t.Error(err)
	}
}

// oneQueryResults is EachResult as one query, as it was before it read
// in chunks of devices: the definition the chunks must add up to.
const oneQueryResults = `
	SELECT device_id, check_id, observed_at, observed_ns, toString(status) AS st, check_version,
	       pack, pack_version, rows, reason, error, duration_ms, engine, agent_version, received_at
	FROM results FINAL
	WHERE observed_at >= toDateTime(?) AND observed_at < toDateTime(?) AND has(?, check_id)
	ORDER BY device_id, check_id, observed_at, observed_ns`

// Chunks of devices, each filtered before FINAL's merge, must list
// exactly the rows one query over the period lists, in its order, with
// the same copy of each redelivered result; including devices the rollup
// does not know (its month dropped), which only the open-ended ranges
// catch. Not parallel: it sets the chunk size for the package.
func TestEachResultInChunksMatchesOneQuery(t *testing.T) {
	s := openStore(t, chtest.Database(t))
	old := store.SetChunkTarget(3)
	defer store.SetChunkTarget(old)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	statuses := []evidence.Status{evidence.StatusPass, evidence.StatusFail, evidence.StatusError}
	var envs []*evidence.Envelope
	for d := range 40 {
		dev := fmt.Sprintf("dev-%02d", d)
		if d%7 == 3 {
			dev = fmt.Sprintf("late-%02d", d) // sorts after every dev-: the open-ended last chunk
		}
		var rs []evidence.Result
		for range 12 {
			check := []string{"disk_encryption", "firewall", "screen_lock"}[rng.IntN(3)]
			at := from.Add(-24*time.Hour + time.Duration(rng.Int64N(int64(to.Sub(from)+48*time.Hour))))
			if d%5 == 0 {
				at = time.Date(2026, 2, 1+rng.IntN(27), rng.IntN(24), 0, 0, rng.IntN(1e9), time.UTC) // February only
			}
			rs = append(rs, evidence.Result{CheckID: check, CheckVersion: 1, Pack: "p", PackVersion: "1", ObservedAt: at,
				Status: statuses[rng.IntN(len(statuses))], Reason: fmt.Sprintf("r%d", rng.IntN(100)), Engine: "osquery"})
		}
		envs = append(envs, &evidence.Envelope{Schema: 1, DeviceID: dev, AgentVersion: "1", Seq: 1, Results: rs})
	}
	received := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if err := s.InsertEnvelopes(t.Context(), envs, received); err != nil {
		t.Fatal(err)
	}
	// Redeliveries, received later, in parts of their own: FINAL keeps
	// the last written copy, so received_at tells which one survived.
	for i := range 3 {
		if err := s.InsertEnvelopes(t.Context(), envs[i*5:i*5+5], received.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Conn().Exec(t.Context(), "ALTER TABLE results_daily DROP PARTITION 202602"); err != nil {
		t.Fatal(err)
	}
	checks := []string{"disk_encryption", "screen_lock"}
	format := func(r store.ResultRow) string {
		return fmt.Sprintf("%s %s %s %s %s %s", r.DeviceID, r.CheckID, r.ObservedAt.Format(time.RFC3339Nano), r.Status, r.Reason,
			r.ReceivedAt.Format(time.RFC3339))
	}
	var got []string
	if err := s.EachResult(t.Context(), checks, nil, from, to, func(r store.ResultRow) error {
		got = append(got, format(r))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Conn().Query(t.Context(), oneQueryResults, from.Unix(), to.Unix(), checks)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []string
	for rows.Next() {
		var r store.ResultRow
		var ns uint32
		if err := rows.Scan(&r.DeviceID, &r.CheckID, &r.ObservedAt, &ns, &r.Status, &r.CheckVersion, &r.Pack,
			&r.PackVersion, &r.Rows, &r.Reason, &r.Error, &r.DurationMS, &r.Engine, &r.AgentVersion, &r.ReceivedAt); err != nil {
			t.Fatal(err)
		}
		r.ObservedAt = r.ObservedAt.UTC().Add(time.Duration(ns))
		r.ReceivedAt = r.ReceivedAt.UTC()
		want = append(want, format(r))
	}
	if len(want) < 100 {
		t.Fatalf("only %d rows: the data does not exercise the chunks", len(want))
	}
	// Stopping mid-way, with chunks still being read, returns fn's error
	// (and leaves no query running: EachResult waits for its readers).
	stop := errors.New("stop")
	n := 0
	err = s.EachResult(t.Context(), checks, nil, from, to, func(store.ResultRow) error {
		if n++; n == 50 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 50 {
		t.Errorf("stopping at row 50: %v after %d rows", err, n)
	}
	if !slices.Equal(got, want) {
		t.Errorf("EachResult in chunks (%d rows) differs from one query (%d rows)", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference at %d:\n got %s\nwant %s", i, got[i], want[i])
				break
			}
		}
	}
}
