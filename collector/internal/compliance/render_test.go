package compliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeSource serves fixed data and records what it was asked.
type fakeSource struct {
	devices []store.Device
	revs    []store.Revocation
	days    []store.CheckDays
	seen    []store.Seen
	gaps    []store.SpoolGap
	err     error
	asked   []string
}

func (f *fakeSource) Devices(context.Context) ([]store.Device, error) { return f.devices, f.err }
func (f *fakeSource) Revocations(context.Context) ([]store.Revocation, error) {
	return f.revs, nil
}
func (f *fakeSource) ComplianceDays(_ context.Context, checks []string, from, to time.Time) ([]store.CheckDays, error) {
	f.asked = append(f.asked, strings.Join(checks, ",")+" "+from.Format(time.DateOnly)+".."+to.Format(time.DateOnly))
	return f.days, nil
}
func (f *fakeSource) LastSeen(_ context.Context, ids []string, at time.Time, recent time.Duration) ([]store.Seen, error) {
	f.asked = append(f.asked, strings.Join(ids, ",")+" "+at.Format(time.RFC3339)+" "+recent.String())
	return f.seen, nil
}
func (f *fakeSource) Gaps(_ context.Context, from, to time.Time) ([]store.SpoolGap, error) {
	f.asked = append(f.asked, "gaps "+from.Format(time.DateOnly)+".."+to.Format(time.DateOnly))
	return f.gaps, nil
}

func sampleReport(t *testing.T) compliance.Report {
	t.Helper()
	before := d0.AddDate(0, -1, 0)
	src := &fakeSource{
		devices: []store.Device{device("mac-1", "darwin", before), device("lin\t2", "linux", before), device("lin-3", "linux", before)},
		days: []store.CheckDays{
			days("mac-1", "disk", "PPP"), days("mac-1", "lock", "PPP"),
			{DeviceID: "lin\t2", CheckID: "disk", Days: verdicts("PF."), FirstFailure: at(1, 9.5), RemediatedAt: at(1, 12)},
		},
	}
	rep, err := compliance.Compute(t.Context(), src, testCatalog(t), compliance.Request{Control: "CC6.1", From: d0, To: at(3, 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(src.asked, ";"); got != "disk,lock 2025-03-10..2025-03-13" {
		t.Errorf("Compute asked for %s", got)
	}
	return rep
}

func sampleStale(t *testing.T) compliance.StaleReport {
	t.Helper()
	now := at(10, 12)
	src := &fakeSource{
		devices: []store.Device{device("a", "linux", d0), device("b", "darwin", d0), device("c", "windows", d0)},
		seen: []store.Seen{
			{DeviceID: "a", LastHeartbeat: now.Add(-time.Minute), LastResult: now.Add(-time.Hour)},
			{DeviceID: "b", LastHeartbeat: now.Add(-26 * time.Hour), LastResult: now.Add(-27 * time.Hour)},
		},
		gaps: []store.SpoolGap{{DeviceID: "b", From: at(8, 0), To: at(8, 6), Dropped: 120, Reason: "spool full"}},
	}
	rep, err := compliance.FindStale(t.Context(), src, compliance.StaleRequest{At: now, Window: 90 * time.Minute, GapsFrom: at(3, 0), GapsTo: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(src.asked, ";"); got != "a,b,c 2025-03-20T12:00:00Z 1h30m0s;gaps 2025-03-13..2025-03-20" {
		t.Errorf("FindStale asked for %s", got)
	}
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", name, got)
	}
}

func TestWriteMatchesGoldenFiles(t *testing.T) {
	t.Parallel()
	rep, stale := sampleReport(t), sampleStale(t)
	for _, format := range compliance.Formats {
		var b, s bytes.Buffer
		if err := rep.Write(&b, format); err != nil {
			t.Fatal(err)
		}
		golden(t, "report."+format, b.Bytes())
		if err := stale.Write(&s, format); err != nil {
			t.Fatal(err)
		}
		golden(t, "stale."+format, s.Bytes())
	}
	var trend bytes.Buffer
	if err := rep.WriteTrendCSV(&trend); err != nil {
		t.Fatal(err)
	}
	golden(t, "trend.csv", trend.Bytes())
	if err := rep.Write(&trend, "xml"); err == nil {
		t.Error("Write(xml) succeeded")
	}
}

// JSON is the API's format: it must round-trip, with empty lists as []
// so clients can iterate without a null check.
func TestJSONRoundTripsWithEmptyLists(t *testing.T) {
	t.Parallel()
	rep, err := compliance.Compute(t.Context(), &fakeSource{}, testCatalog(t), compliance.Request{CheckID: "disk", From: d0, To: at(2, 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.Write(&b, "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"devices": []`) {
		t.Errorf("an empty population does not encode as []:\n%s", b.String())
	}
	var back compliance.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Days != 2 || len(back.Trend) != 2 || back.Method == "" {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestComputeRefusesBadRequests(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		src  *fakeSource
		req  compliance.Request
		want string
	}{
		{"empty period", &fakeSource{}, compliance.Request{CheckID: "disk", From: d0, To: d0}, "is empty"},
		{"unknown check", &fakeSource{}, compliance.Request{CheckID: "nope", From: d0, To: at(1, 0)}, `no check "nope"`},
		{"source failure", &fakeSource{err: boom}, compliance.Request{CheckID: "disk", From: d0, To: at(1, 0)}, "boom"},
	} {
		if _, err := compliance.Compute(t.Context(), tc.src, cat, tc.req, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Compute = %v, want %q", tc.name, err, tc.want)
		}
	}
}
