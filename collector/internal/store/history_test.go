package store_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// run renders an entry compactly: check:prev>status@start..end×n, with
// "~" for a run continued from before the window.
func run(e store.HistoryEntry) string {
	prev := e.Previous
	if e.Continued {
		prev = "~"
	}
	return fmt.Sprintf("%s:%s>%s@%s..%s×%d", e.CheckID, prev, e.Status,
		e.Start.UTC().Format("15:04:05.000"), e.End.UTC().Format("15:04:05.000"), e.Observations)
}

func TestFold(t *testing.T) {
	t.Parallel()
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	obs := func(check string, min int, status string) store.Observation {
		return store.Observation{CheckID: check, ObservedAt: at(min), Status: status, Rows: fmt.Sprintf(`[{"at":"%d"}]`, min)}
	}
	for _, tc := range []struct {
		name string
		prev map[string]string
		obs  []store.Observation
		want []string
	}{
		{"nothing observed", nil, nil, nil},
		{"one observation is one run", nil,
			[]store.Observation{obs("c", 0, "pass")},
			[]string{"c:>pass@09:00:00.000..09:00:00.000×1"}},
		{"equal statuses fold into one run", nil,
			[]store.Observation{obs("c", 0, "pass"), obs("c", 60, "pass"), obs("c", 120, "pass")},
			[]string{"c:>pass@09:00:00.000..11:00:00.000×3"}},
		{"every change starts a run that names the one before", nil,
			[]store.Observation{obs("c", 0, "pass"), obs("c", 60, "fail"), obs("c", 120, "fail"), obs("c", 180, "pass")},
			[]string{"c:>pass@09:00:00.000..09:00:00.000×1", "c:pass>fail@10:00:00.000..11:00:00.000×2", "c:fail>pass@12:00:00.000..12:00:00.000×1"}},
		{"a redelivered duplicate is not counted", nil,
			[]store.Observation{obs("c", 0, "fail"), obs("c", 0, "fail"), obs("c", 60, "fail")},
			[]string{"c:>fail@09:00:00.000..10:00:00.000×2"}},
		{"a different status before the window makes the first run a change", map[string]string{"c": "pass"},
			[]store.Observation{obs("c", 0, "fail")},
			[]string{"c:pass>fail@09:00:00.000..09:00:00.000×1"}},
		{"the same status before the window continues the run", map[string]string{"c": "fail"},
			[]store.Observation{obs("c", 0, "fail"), obs("c", 60, "pass")},
			[]string{"c:~>fail@09:00:00.000..09:00:00.000×1", "c:fail>pass@10:00:00.000..10:00:00.000×1"}},
		{"checks fold separately and interleave by time", map[string]string{"b": "error"},
			[]store.Observation{obs("a", 30, "pass"), obs("a", 90, "fail"), obs("b", 0, "pass"), obs("b", 60, "pass")},
			[]string{"b:error>pass@09:00:00.000..10:00:00.000×2", "a:>pass@09:30:00.000..09:30:00.000×1", "a:pass>fail@10:30:00.000..10:30:00.000×1"}},
		{"runs of two checks starting together sort by check", nil,
			[]store.Observation{obs("a", 0, "fail"), obs("a", 60, "pass"), obs("b", 0, "pass")},
			[]string{"a:>fail@09:00:00.000..09:00:00.000×1", "b:>pass@09:00:00.000..09:00:00.000×1", "a:fail>pass@10:00:00.000..10:00:00.000×1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range store.Fold("dev-a", tc.prev, tc.obs) {
				got = append(got, run(e))
				if e.DeviceID != "dev-a" {
					t.Errorf("entry for device %q", e.DeviceID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Fold:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The rows of a run are those of its first observation: the evidence of
// the change, not of the latest repeat.
func TestFoldKeepsTheFirstObservationsEvidence(t *testing.T) {
	t.Parallel()
	obs := []store.Observation{
		{CheckID: "c", ObservedAt: base, Status: "fail", Reason: "first", Rows: `[{"device":"/dev/sda2"}]`},
		{CheckID: "c", ObservedAt: base.Add(time.Hour), Status: "fail", Reason: "second", Rows: `[{"device":"/dev/sdb1"}]`},
		{CheckID: "d", ObservedAt: base, Status: "error", Error: "timeout", Rows: "not json"},
	}
	got := store.Fold("dev-a", nil, obs)
	if len(got) != 2 {
		t.Fatalf("%d entries, want 2", len(got))
	}
	if got[0].Reason != "first" || string(got[0].Rows) != `[{"device":"/dev/sda2"}]` {
		t.Errorf("run evidence = %q %s, want the first observation's", got[0].Reason, got[0].Rows)
	}
	// A malformed stored value still encodes, as a string.
	b, err := json.Marshal(got[1])
	if err != nil || !strings.Contains(string(b), `"rows":"not json"`) {
		t.Errorf("entry with malformed rows encodes as %s, %v", b, err)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	failing := result("disk_encryption", base.Add(2*time.Hour), evidence.StatusFail)
	failing.Rows = []map[string]string{{"device": "/dev/sdb1", "compliant": "0"}}
	failing.Reason = "1 volume unencrypted"
	batch := []*evidence.Envelope{
		envelope("dev-a", 1,
			result("disk_encryption", base, evidence.StatusPass),
			result("disk_encryption", base.Add(time.Hour), evidence.StatusPass),
			failing,
			result("disk_encryption", base.Add(3*time.Hour), evidence.StatusFail),
			// Within the same second as the next run, yet its own observation.
			result("disk_encryption", base.Add(4*time.Hour+100*time.Millisecond), evidence.StatusPass),
			result("firewall", base.Add(30*time.Minute), evidence.StatusError),
			result("firewall", base.Add(90*time.Minute), evidence.StatusPass)),
		envelope("dev-b", 1, result("disk_encryption", base.Add(2*time.Hour), evidence.StatusFail)),
	}
	// Delivered twice: the duplicates must neither count nor split runs.
	for range 2 {
		if err := s.InsertEnvelopes(t.Context(), batch, base); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		check    string
		from, to time.Time
		want     []string
	}{
		{"all checks, all time", "", time.Time{}, time.Time{}, []string{
			"disk_encryption:>pass@09:00:00.000..10:00:00.000×2",
			"firewall:>error@09:30:00.000..09:30:00.000×1",
			"firewall:error>pass@10:30:00.000..10:30:00.000×1",
			"disk_encryption:pass>fail@11:00:00.000..12:00:00.000×2",
			"disk_encryption:fail>pass@13:00:00.100..13:00:00.100×1",
		}},
		{"one check", "firewall", time.Time{}, time.Time{}, []string{
			"firewall:>error@09:30:00.000..09:30:00.000×1",
			"firewall:error>pass@10:30:00.000..10:30:00.000×1",
		}},
		{"a window starting inside a run continues it", "disk_encryption", base.Add(150 * time.Minute), time.Time{}, []string{
			"disk_encryption:~>fail@12:00:00.000..12:00:00.000×1",
			"disk_encryption:fail>pass@13:00:00.100..13:00:00.100×1",
		}},
		{"a window starting at a change names the status before", "disk_encryption", base.Add(2 * time.Hour), base.Add(4 * time.Hour), []string{
			"disk_encryption:pass>fail@11:00:00.000..12:00:00.000×2",
		}},
		{"the end is exclusive to the nanosecond", "disk_encryption", base.Add(4 * time.Hour), base.Add(4*time.Hour + 100*time.Millisecond), nil},
		{"the start is inclusive to the nanosecond", "disk_encryption", base.Add(4*time.Hour + 100*time.Millisecond), time.Time{}, []string{
			"disk_encryption:fail>pass@13:00:00.100..13:00:00.100×1",
		}},
		{"unknown check", "nope", time.Time{}, time.Time{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := s.History(t.Context(), "dev-a", tc.check, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				got = append(got, run(e))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("History:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	es, err := s.History(t.Context(), "dev-a", "disk_encryption", base.Add(2*time.Hour), base.Add(3*time.Hour))
	if err != nil || len(es) != 1 {
		t.Fatalf("History = %v, %v", es, err)
	}
	if e := es[0]; e.Reason != "1 volume unencrypted" || string(e.Rows) != `[{"compliant":"0","device":"/dev/sdb1"}]` {
		t.Errorf("the change's evidence = %q %s", e.Reason, e.Rows)
	}
}

func TestDailyCountsEachObservationOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	day2 := base.AddDate(0, 0, 1)
	batch := []*evidence.Envelope{envelope("dev-a", 1,
		result("disk_encryption", base, evidence.StatusPass),
		result("disk_encryption", base.Add(time.Hour), evidence.StatusFail),
		result("disk_encryption", base.Add(time.Hour+500*time.Millisecond), evidence.StatusError),
		result("disk_encryption", base.Add(2*time.Hour), evidence.StatusPass),
		result("disk_encryption", day2, evidence.StatusNotApplicable),
		result("firewall", base, evidence.StatusPass))}
	// The first delivery, a full redelivery, and one duplicate riding
	// along with a new observation: the view sees every physical row.
	deliveries := [][]*evidence.Envelope{batch, batch,
		{envelope("dev-a", 2, result("disk_encryption", base, evidence.StatusPass), result("disk_encryption", base.Add(3*time.Hour), evidence.StatusPass))}}
	for _, d := range deliveries {
		if err := s.InsertEnvelopes(t.Context(), d, base); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Daily(t.Context(), "dev-a", "disk_encryption", base, day2)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DailyCounts{
		{DeviceID: "dev-a", CheckID: "disk_encryption", Day: base.Truncate(24 * time.Hour), Pass: 3, Fail: 1, Error: 1,
			First: base, Last: base.Add(3 * time.Hour), LastStatus: "pass"},
		{DeviceID: "dev-a", CheckID: "disk_encryption", Day: day2.Truncate(24 * time.Hour), NotApplicable: 1,
			First: day2, Last: day2, LastStatus: "not_applicable"},
	}
	if len(got) != len(want) {
		t.Fatalf("Daily = %+v, want %+v", got, want)
	}
	for i := range want {
		if g := got[i]; g.DeviceID != want[i].DeviceID || g.CheckID != want[i].CheckID || !g.Day.Equal(want[i].Day) ||
			g.Pass != want[i].Pass || g.Fail != want[i].Fail || g.Error != want[i].Error || g.NotApplicable != want[i].NotApplicable ||
			!g.First.Equal(want[i].First) || !g.Last.Equal(want[i].Last) || g.LastStatus != want[i].LastStatus {
			t.Errorf("day %d:\n got %+v\nwant %+v", i, g, want[i])
		}
	}
	all, err := s.Daily(t.Context(), "dev-a", "", base, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].CheckID != "disk_encryption" || all[1].CheckID != "firewall" {
		t.Errorf("Daily for every check on one day = %+v", all)
	}
}
