package store_test

import (
	"errors"
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
	err := s.EachResult(t.Context(), []string{"disk_encryption", "screen_lock"}, from, to, func(r store.ResultRow) error {
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

	stop := errors.New("stop")
	n := 0
	if err := s.EachResult(t.Context(), []string{"disk_encryption"}, from, to, func(store.ResultRow) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("an error from fn: got %v after %d rows, want it returned after 1", err, n)
	}
	if err := s.EachResult(t.Context(), nil, from, to, func(store.ResultRow) error { t.Error("called"); return nil }); err != nil {
		t.Error(err)
	}
}
