package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestLastSeen(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	hb := func(e *evidence.Envelope, at time.Time) *evidence.Envelope {
		e.Heartbeat = &evidence.Heartbeat{ObservedAt: at}
		return e
	}
	now := base.AddDate(0, 0, 40)
	envs := []*evidence.Envelope{
		// Heard from within the recent window, both ways.
		hb(envelope("active", 1, result("firewall", now.Add(-time.Hour), evidence.StatusPass)), now.Add(-5*time.Minute)),
		// Heartbeats now, results only long ago: found by the id lookup.
		hb(envelope("noresults", 1, result("firewall", base, evidence.StatusPass)), now.Add(-10*time.Minute)),
		// Silent for a month, then a result after the instant asked about.
		hb(envelope("silent", 1, result("firewall", base.AddDate(0, 0, 9), evidence.StatusPass)), base.AddDate(0, 0, 10)),
		envelope("silent", 2, result("firewall", now.Add(time.Hour), evidence.StatusPass)),
		// Not enrolled (not asked about) but reporting: still listed.
		hb(envelope("stranger", 1), now.Add(-time.Minute)),
	}
	for range 2 {
		if err := s.InsertEnvelopes(t.Context(), envs, base); err != nil {
			t.Fatal(err)
		}
	}
	fmtT := func(tm time.Time) string {
		if tm.IsZero() {
			return "-"
		}
		return tm.Format("01-02 15:04")
	}
	seen, err := s.LastSeen(t.Context(), []string{"active", "noresults", "silent", "never"}, now, 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sn := range seen {
		got = append(got, fmt.Sprintf("%s hb=%s res=%s", sn.DeviceID, fmtT(sn.LastHeartbeat), fmtT(sn.LastResult)))
	}
	want := []string{
		"active hb=04-23 08:55 res=04-23 08:00",
		"never hb=- res=-",
		"noresults hb=04-23 08:50 res=03-14 09:00",
		"silent hb=03-24 09:00 res=03-23 09:00",
		"stranger hb=04-23 08:59 res=-",
	}
	if !slices.Equal(got, want) {
		t.Errorf("LastSeen:\n got %q\nwant %q", got, want)
	}
}

func TestGaps(t *testing.T) {
	t.Parallel()
	s := openStore(t, chtest.Database(t))
	gap := func(dev string, seq uint64, from, to time.Time, dropped int) *evidence.Envelope {
		e := envelope(dev, seq)
		e.Gaps = []evidence.Gap{{From: from, To: to, Dropped: dropped, Reason: "spool full"}}
		return e
	}
	day := 24 * time.Hour
	envs := []*evidence.Envelope{
		gap("dev-a", 1, base.Add(-2*day), base.Add(-day), 10),          // ends before the period
		gap("dev-a", 2, base.Add(-time.Hour), base.Add(time.Hour), 20), // overlaps its start
		gap("dev-b", 1, base.Add(day), base.Add(day+time.Hour), 30),    // inside
		gap("dev-b", 2, base.Add(2*day), base.Add(3*day), 40),          // starts at its end
	}
	for range 2 { // redelivered: each gap once
		if err := s.InsertEnvelopes(t.Context(), envs, base); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := s.Gaps(t.Context(), base, base.Add(2*day))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gs {
		got = append(got, fmt.Sprintf("%s %s..%s %d %s", g.DeviceID, g.From.Format("01-02 15:04"), g.To.Format("01-02 15:04"), g.Dropped, g.Reason))
	}
	want := []string{"dev-a 03-14 08:00..03-14 10:00 20 spool full", "dev-b 03-15 09:00..03-15 10:00 30 spool full"}
	if !slices.Equal(got, want) {
		t.Errorf("Gaps:\n got %q\nwant %q", got, want)
	}
}
