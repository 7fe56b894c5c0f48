package compliance_test

import (
	"os"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// TestPerformanceOnALargeFleet times a year-long control report against
// a database named by FLEETPROOF_PERF_DSN (skipped without it), such as
// one filled with a year of hourly results of disk_encryption and
// screen_lock for ten thousand devices. It reports, it asserts nothing
// about speed: timing limits fail on slow machines, not slow code.
func TestPerformanceOnALargeFleet(t *testing.T) {
	dsn := os.Getenv("FLEETPROOF_PERF_DSN")
	if dsn == "" {
		t.Skip("set FLEETPROOF_PERF_DSN to a database with a large fleet")
	}
	s, err := store.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, req := range []compliance.Request{
		{Control: "CC6.1", From: from, To: from.AddDate(1, 0, 0)},
		{CheckID: "disk_encryption", From: from, To: from.AddDate(1, 0, 0)},
		{CheckID: "disk_encryption", From: from.AddDate(0, 6, 0), To: from.AddDate(0, 9, 0)},
	} {
		began := time.Now()
		days, err := s.ComplianceDays(t.Context(), mustChecks(t, cat, req), req.From, req.To)
		if err != nil {
			t.Fatal(err)
		}
		fetched := time.Since(began)
		rep, err := compliance.Compute(t.Context(), s, cat, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s%s %s..%s: %d device-checks fetched in %s; whole report (devices, revocations, rollup, build) %s: %d devices, share %.4f",
			req.CheckID, req.Control, req.From.Format(time.DateOnly), req.To.Format(time.DateOnly), len(days),
			fetched.Round(time.Millisecond), (time.Since(began) - fetched).Round(time.Millisecond), rep.Fleet.Devices, deref(rep.Fleet.DeviceDays.Share))
	}
	at := time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)
	began := time.Now()
	rep, err := compliance.FindStale(t.Context(), s, compliance.StaleRequest{At: at, Window: 3 * time.Hour, GapsFrom: at.AddDate(0, -1, 0), GapsTo: at})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stale as of %s: %d of %d devices in %s", at.Format(time.RFC3339), len(rep.Stale), rep.Devices, time.Since(began).Round(time.Millisecond))
	began = time.Now()
	es, err := s.History(t.Context(), "dev-42", "", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("history of one device, every check, all time: %d changes in %s", len(es), time.Since(began).Round(time.Millisecond))
}

func mustChecks(t *testing.T, cat *queries.Catalog, req compliance.Request) []string {
	t.Helper()
	cs, err := compliance.ChecksFor(cat, req.CheckID, req.Control)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
