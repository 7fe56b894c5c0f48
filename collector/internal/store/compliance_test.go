package store_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestDayRange(t *testing.T) {
	t.Parallel()
	d := func(day, hour int) time.Time { return time.Date(2025, 3, day, hour, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name      string
		from, to  time.Time
		wantStart time.Time
		wantDays  int
	}{
		{"whole days", d(1, 0), d(4, 0), d(1, 0), 3},
		{"partial days widen to whole ones", d(1, 13), d(3, 1), d(1, 0), 3},
		{"an instant just after midnight counts its day", d(1, 0), d(2, 0).Add(time.Nanosecond), d(1, 0), 2},
		{"empty", d(2, 0), d(2, 0), d(2, 0), 0},
		{"reversed", d(3, 0), d(2, 0), d(3, 0), 0},
		{"other zones mean the same instants", d(1, 0).In(time.FixedZone("EST", -5*3600)), d(2, 0).In(time.FixedZone("JST", 9*3600)), d(1, 0), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, n := store.DayRange(tc.from, tc.to)
			if !start.Equal(tc.wantStart) || n != tc.wantDays || start.Location() != time.UTC {
				t.Errorf("DayRange = %s, %d; want %s, %d", start, n, tc.wantStart, tc.wantDays)
			}
		})
	}
}

// migration returns the statements of one embedded migration.
func migration(t *testing.T, version uint32) []string {
	t.Helper()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version == version {
			return m.Statements
		}
	}
	t.Fatalf("no migration %d", version)
	return nil
}

// The rollup must equal what the results say whether rows arrived before
// the view existed (the migration's backfill), through the view, twice
// (redelivery), or while the migration ran again (a second collector).
func TestDailyRollupBackfillAndRedeliveryAreIdempotent(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	conn := s.Conn()
	// Back to the state before migration 4: results exist, no rollup.
	for _, st := range []string{"DROP TABLE results_daily_mv", "DROP TABLE results_daily"} {
		if err := conn.Exec(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	old := []*evidence.Envelope{envelope("dev-a", 1,
		result("disk_encryption", base, evidence.StatusPass),
		result("disk_encryption", base.Add(time.Hour), evidence.StatusFail))}
	if err := s.InsertEnvelopes(t.Context(), old, base); err != nil {
		t.Fatal(err)
	}
	daily := func() string {
		t.Helper()
		ds, err := s.Daily(t.Context(), "dev-a", "disk_encryption", base, base)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, d := range ds {
			parts = append(parts, fmt.Sprintf("pass=%d fail=%d last=%s@%s", d.Pass, d.Fail, d.LastStatus, d.Last.Format("15:04")))
		}
		return strings.Join(parts, "; ")
	}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"migration backfills earlier rows", func() error { return execAll(t, s, migration(t, 4)) }, "pass=1 fail=1 last=fail@10:00"},
		{"running the migration again changes nothing", func() error { return execAll(t, s, migration(t, 4)) }, "pass=1 fail=1 last=fail@10:00"},
		{"redelivering backfilled rows changes nothing", func() error { return s.InsertEnvelopes(t.Context(), old, base) }, "pass=1 fail=1 last=fail@10:00"},
		{"new rows flow through the view", func() error {
			return s.InsertEnvelopes(t.Context(), []*evidence.Envelope{envelope("dev-a", 2, result("disk_encryption", base.Add(2*time.Hour), evidence.StatusPass))}, base)
		}, "pass=2 fail=1 last=pass@11:00"},
		{"and their redelivery too", func() error {
			return s.InsertEnvelopes(t.Context(), []*evidence.Envelope{envelope("dev-a", 2, result("disk_encryption", base.Add(2*time.Hour), evidence.StatusPass))}, base)
		}, "pass=2 fail=1 last=pass@11:00"},
		// An older row arriving late (an agent back from days offline)
		// does not become the day's last status.
		{"late arrival of an earlier observation", func() error {
			return s.InsertEnvelopes(t.Context(), []*evidence.Envelope{envelope("dev-a", 3, result("disk_encryption", base.Add(90*time.Minute), evidence.StatusFail))}, base)
		}, "pass=2 fail=2 last=pass@11:00"},
		{"merges keep the numbers", func() error { return conn.Exec(t.Context(), "OPTIMIZE TABLE results_daily FINAL") }, "pass=2 fail=2 last=pass@11:00"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := daily(); got != st.want {
			t.Errorf("%s: rollup %q, want %q", st.name, got, st.want)
		}
	}
}

func execAll(t *testing.T, s *store.Store, statements []string) error {
	t.Helper()
	for _, st := range statements {
		if err := s.Conn().Exec(t.Context(), st); err != nil {
			return fmt.Errorf("%.60s: %w", st, err)
		}
	}
	return nil
}

// days renders verdicts as one letter a day: . P F E N.
func days(vs []store.Verdict) string {
	const letters = ".PFEN"
	b := make([]byte, len(vs))
	for i, v := range vs {
		b[i] = letters[v]
	}
	return string(b)
}

func TestComplianceDays(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	d0 := base.Truncate(24 * time.Hour) // 2025-03-14 00:00 UTC, day 0 of the period
	at := func(day int, hm string) time.Time {
		var h, m int
		fmt.Sscanf(hm, "%d:%d", &h, &m)
		return d0.AddDate(0, 0, day).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	r := func(check string, day int, hm string, st evidence.Status) evidence.Result {
		return result(check, at(day, hm), st)
	}
	const c = "disk_encryption"
	envs := []*evidence.Envelope{
		// Fixed two days later, on its first pass.
		envelope("later", 1, r(c, 0, "09:00", evidence.StatusPass), r(c, 1, "10:00", evidence.StatusFail),
			r(c, 1, "11:00", evidence.StatusFail), r(c, 3, "08:00", evidence.StatusPass), r(c, 3, "09:00", evidence.StatusPass)),
		// Passed before and after the failure on its day: only raw results
		// say which pass came first after it.
		envelope("sameday", 1, r(c, 0, "08:00", evidence.StatusPass), r(c, 0, "10:00", evidence.StatusFail),
			r(c, 0, "12:00", evidence.StatusPass), r(c, 0, "18:00", evidence.StatusPass), r(c, 2, "09:00", evidence.StatusFail)),
		// Failed first thing and passed later that day.
		envelope("morning", 1, r(c, 1, "06:00", evidence.StatusFail), r(c, 1, "07:30", evidence.StatusPass)),
		envelope("open", 1, r(c, 0, "09:00", evidence.StatusPass), r(c, 2, "09:00", evidence.StatusFail)),
		// A failure recovered by an error is not remediated; ending the day
		// in error (no failure) is an error day, not a pass.
		envelope("erring", 1, r(c, 0, "09:00", evidence.StatusFail), r(c, 0, "10:00", evidence.StatusError),
			r(c, 1, "09:00", evidence.StatusPass), r(c, 1, "10:00", evidence.StatusError), r(c, 2, "10:00", evidence.StatusNotApplicable)),
		// Outside the period on both sides: before day 0 and on day 4.
		envelope("outside", 1, r(c, -1, "09:00", evidence.StatusFail), r(c, 0, "09:00", evidence.StatusPass), r(c, 4, "00:00", evidence.StatusFail)),
		envelope("othercheck", 1, r("firewall", 0, "09:00", evidence.StatusFail)),
	}
	// Twice, so every rollup row is doubled before merges.
	for range 2 {
		if err := s.InsertEnvelopes(t.Context(), envs, base); err != nil {
			t.Fatal(err)
		}
	}
	// Evidence of one day arriving in separate inserts (an agent back from
	// offline, a retry) lands in separate rollup rows until merges combine
	// them: the day's last status is that of its latest observation, not
	// of the latest insert, and a failure in any of them fails the day.
	for _, e := range []*evidence.Envelope{
		envelope("split", 1, r(c, 0, "10:00", evidence.StatusPass), r(c, 1, "09:00", evidence.StatusPass), r(c, 2, "09:00", evidence.StatusPass)),
		envelope("split", 2, r(c, 0, "08:00", evidence.StatusError), r(c, 1, "11:00", evidence.StatusError), r(c, 2, "07:00", evidence.StatusFail)),
		envelope("split", 3, r(c, 3, "23:59", evidence.StatusPass)),
		envelope("split", 4, r(c, 3, "00:00", evidence.StatusNotApplicable)),
	} {
		if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{e}, base); err != nil {
			t.Fatal(err)
		}
	}
	// A period from mid-day 0 to mid-day 3 widens to days 0..3.
	got, err := s.ComplianceDays(t.Context(), []string{c}, at(0, "12:00"), at(3, "12:00"))
	if err != nil {
		t.Fatal(err)
	}
	hm := func(tm time.Time) string {
		if tm.IsZero() {
			return "-"
		}
		return fmt.Sprintf("d%d/%s", int(tm.Sub(d0)/(24*time.Hour)), tm.Format("15:04"))
	}
	var lines []string
	for _, cd := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s ff=%s rem=%s", cd.DeviceID, cd.CheckID, days(cd.Days), hm(cd.FirstFailure), hm(cd.RemediatedAt)))
	}
	want := []string{
		"erring disk_encryption FEN. ff=d0/09:00 rem=d1/09:00",
		"later disk_encryption PF.P ff=d1/10:00 rem=d3/08:00",
		"morning disk_encryption .F.. ff=d1/06:00 rem=d1/07:30",
		"open disk_encryption P.F. ff=d2/09:00 rem=-",
		"outside disk_encryption P... ff=- rem=-",
		"sameday disk_encryption F.F. ff=d0/10:00 rem=d0/12:00",
		"split disk_encryption PEFP ff=d2/07:00 rem=d2/09:00",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("ComplianceDays:\n got %q\nwant %q", lines, want)
	}

	both, err := s.ComplianceDays(t.Context(), []string{c, "firewall"}, d0, d0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var oneDay []string
	for _, cd := range both {
		oneDay = append(oneDay, cd.DeviceID+"/"+cd.CheckID+"="+days(cd.Days))
	}
	if want := []string{"erring/disk_encryption=F", "later/disk_encryption=P", "open/disk_encryption=P",
		"othercheck/firewall=F", "outside/disk_encryption=P", "sameday/disk_encryption=F", "split/disk_encryption=P"}; !slices.Equal(oneDay, want) {
		t.Errorf("two checks over one day:\n got %q\nwant %q", oneDay, want)
	}
	none, err := s.ComplianceDays(t.Context(), []string{c}, d0, d0)
	if err != nil || len(none) != 0 {
		t.Errorf("an empty period = %v, %v", none, err)
	}
	if _, err := s.ComplianceDays(t.Context(), []string{c}, d0, d0.AddDate(20, 0, 0)); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a twenty-year period = %v, want refused", err)
	}
}

// Remediation lookups are batched; more failing devices than a batch
// holds must all be answered.
func TestComplianceDaysRemediatesManyAmbiguousDevices(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	const n = 1200
	var envs []*evidence.Envelope
	for i := range n {
		envs = append(envs, envelope(fmt.Sprintf("dev-%04d", i), 1,
			result("screen_lock", base, evidence.StatusPass),
			result("screen_lock", base.Add(time.Hour), evidence.StatusFail),
			result("screen_lock", base.Add(time.Hour+time.Duration(i+1)*time.Second), evidence.StatusPass)))
	}
	if err := s.InsertEnvelopes(t.Context(), envs, base); err != nil {
		t.Fatal(err)
	}
	got, err := s.ComplianceDays(t.Context(), []string{"screen_lock"}, base, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d rows, want %d", len(got), n)
	}
	for i, cd := range got {
		if want := base.Add(time.Hour + time.Duration(i+1)*time.Second); !cd.RemediatedAt.Equal(want) {
			t.Fatalf("%s remediated at %s, want %s", cd.DeviceID, cd.RemediatedAt, want)
		}
	}
}

// With many ambiguous pairs the server finds their first-failure days
// (refineOnServer); with few they are looked up by key. Both must give
// the same remediation times, including for days whose results arrived
// in separate inserts (rollup rows not yet merged, passes before and
// after the failure in different rows) and redelivered ones. Not
// parallel: it switches the path for the whole package.
func TestComplianceDaysRefinesOnTheServerAsByKey(t *testing.T) {
	s := openStore(t, chtest.Database(t))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	d0 := base.Truncate(24 * time.Hour)
	statuses := []evidence.Status{evidence.StatusPass, evidence.StatusPass, evidence.StatusPass, evidence.StatusFail, evidence.StatusError}
	for dev := range 60 {
		for part := range 3 { // three inserts per device: split days
			var rs []evidence.Result
			for _, c := range []string{"disk_encryption", "screen_lock"} {
				for range 6 {
					at := d0.AddDate(0, 0, rng.IntN(4)).Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
					rs = append(rs, result(c, at, statuses[rng.IntN(len(statuses))]))
				}
			}
			e := envelope(fmt.Sprintf("dev-%02d", dev), uint64(part+1), rs...)
			for range 1 + rng.IntN(2) { // sometimes redelivered
				if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{e}, base); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// And one pair whose answer is known: fail at 10:00 between passes at
	// 08:00 (first insert) and 12:00, 11:00 (second insert).
	r := func(hm time.Duration, st evidence.Status) evidence.Result {
		return result("screen_lock", d0.Add(hm), st)
	}
	for i, e := range []*evidence.Envelope{
		envelope("known", 1, r(8*time.Hour, evidence.StatusPass), r(10*time.Hour, evidence.StatusFail), r(12*time.Hour, evidence.StatusPass)),
		envelope("known", 2, r(11*time.Hour, evidence.StatusPass), r(9*time.Hour, evidence.StatusPass)),
	} {
		if err := s.InsertEnvelopes(t.Context(), []*evidence.Envelope{e}, base.Add(time.Duration(i))); err != nil {
			t.Fatal(err)
		}
	}
	checks := []string{"disk_encryption", "screen_lock"}
	read := func(lookupMax int) []store.CheckDays {
		old := store.SetRefineLookupMax(lookupMax)
		defer store.SetRefineLookupMax(old)
		got, err := s.ComplianceDays(t.Context(), checks, d0, d0.AddDate(0, 0, 4))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	onServer, byKey := read(0), read(1<<30)
	if len(onServer) != len(byKey) {
		t.Fatalf("%d pairs on the server, %d by key", len(onServer), len(byKey))
	}
	remediated := 0
	for i := range byKey {
		a, b := onServer[i], byKey[i]
		if a.DeviceID != b.DeviceID || a.CheckID != b.CheckID || !slices.Equal(a.Days, b.Days) ||
			!a.FirstFailure.Equal(b.FirstFailure) || !a.RemediatedAt.Equal(b.RemediatedAt) {
			t.Errorf("%s/%s: on the server ff=%s rem=%s, by key ff=%s rem=%s", b.DeviceID, b.CheckID,
				a.FirstFailure, a.RemediatedAt, b.FirstFailure, b.RemediatedAt)
		}
		if !b.RemediatedAt.IsZero() {
			remediated++
		}
		if b.DeviceID == "known" && !a.RemediatedAt.Equal(d0.Add(11*time.Hour)) {
			t.Errorf("known: remediated at %s, want 11:00 (the first pass after the 10:00 failure)", a.RemediatedAt)
		}
	}
	if remediated < 20 {
		t.Errorf("only %d pairs remediated: the data does not exercise remediation", remediated)
	}
}
