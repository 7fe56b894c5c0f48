package compliance_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

func TestDefaultWindowIsThreeRunsOfTheMostFrequentCheck(t *testing.T) {
	t.Parallel()
	if got := compliance.DefaultWindow(testCatalog(t)); got != 90*time.Minute {
		t.Errorf("DefaultWindow = %s, want 1h30m (3 × lock's 30m)", got)
	}
}

func TestStale(t *testing.T) {
	t.Parallel()
	now := at(10, 12)
	window := 3 * time.Hour
	old := d0.AddDate(0, -1, 0)
	seen := func(id string, hb, res time.Time) store.Seen {
		return store.Seen{DeviceID: id, LastHeartbeat: hb, LastResult: res}
	}
	for _, tc := range []struct {
		name string
		dev  store.Device
		seen []store.Seen
		revs []store.Revocation
		want string // "" when not stale
	}{
		{"heard from both ways recently", device("d", "linux", old), []store.Seen{seen("d", now.Add(-time.Minute), now.Add(-time.Hour))}, nil, ""},
		{"results alone keep a device fresh", device("d", "linux", old), []store.Seen{seen("d", time.Time{}, now.Add(-time.Hour))}, nil, ""},
		{"silent past the window", device("d", "linux", old), []store.Seen{seen("d", now.Add(-5*time.Hour), now.Add(-6*time.Hour))}, nil,
			"silent seen=05:00h hb=05:00h res=06:00h silent=18000"},
		{"exactly at the window's edge is not stale", device("d", "linux", old), []store.Seen{seen("d", now.Add(-window), now.Add(-window))}, nil, ""},
		{"heartbeats without results", device("d", "linux", old), []store.Seen{seen("d", now.Add(-time.Minute), now.Add(-2*24*time.Hour))}, nil,
			"no_results seen=00:01h hb=00:01h res=48:00h silent=172800"},
		{"heartbeats and never a result since enrolling", device("d", "linux", now.Add(-24*time.Hour)), []store.Seen{seen("d", now.Add(-time.Minute), time.Time{})}, nil,
			"no_results seen=00:01h hb=00:01h res=- silent=86400"},
		{"never reported since enrolling", device("d", "linux", now.Add(-24*time.Hour)), nil, nil,
			"never_reported seen=- hb=- res=- silent=86400"},
		{"enrolled within the window has missed nothing yet", device("d", "linux", now.Add(-time.Hour)), nil, nil, ""},
		{"enrolled after the instant is not counted", device("d", "linux", now.Add(time.Hour)), nil, nil, "not counted"},
		{"revoked devices are expected to be silent", device("d", "linux", old), nil, []store.Revocation{{DeviceID: "d", RevokedAt: now.Add(-time.Hour)}}, "not counted"},
		{"a revocation after the instant does not count yet", device("d", "linux", old), nil, []store.Revocation{{DeviceID: "d", RevokedAt: now.Add(time.Hour)}},
			"never_reported seen=- hb=- res=- silent=3326400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			active, stale := compliance.Stale(now, window, []store.Device{tc.dev}, tc.revs, tc.seen)
			ago := func(p *time.Time) string {
				if p == nil {
					return "-"
				}
				d := now.Sub(*p)
				return fmt.Sprintf("%02d:%02dh", int(d.Hours()), int(d.Minutes())%60)
			}
			got := ""
			switch {
			case active == 0:
				got = "not counted"
			case len(stale) == 1:
				s := stale[0]
				got = fmt.Sprintf("%s seen=%s hb=%s res=%s silent=%d", s.Reason, ago(s.LastSeen), ago(s.LastHeartbeat), ago(s.LastResult), s.SilentSeconds)
			}
			if got != tc.want {
				t.Errorf("Stale:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestStaleListsLongestSilentFirst(t *testing.T) {
	t.Parallel()
	now := at(10, 0)
	old := d0.AddDate(0, -1, 0)
	devs := []store.Device{device("a", "linux", old), device("b", "linux", old), device("c", "linux", old), device("d", "linux", old)}
	seen := []store.Seen{
		{DeviceID: "a", LastHeartbeat: now.Add(-10 * time.Hour)},
		{DeviceID: "b", LastHeartbeat: now.Add(-30 * time.Hour)},
		{DeviceID: "d", LastHeartbeat: now.Add(-10 * time.Hour)},
	}
	active, stale := compliance.Stale(now, time.Hour, devs, nil, seen)
	var ids []string
	for _, s := range stale {
		ids = append(ids, s.DeviceID)
	}
	if active != 4 || strings.Join(ids, ",") != "c,b,a,d" {
		t.Errorf("Stale = %d active, %v; want 4 and c (never), b, a, d", active, ids)
	}
}
