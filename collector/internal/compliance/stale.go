package compliance

import (
	"context"
	"sort"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// Why a device is listed as stale.
const (
	StaleNever     = "never_reported" // no heartbeat or result, ever
	StaleSilent    = "silent"         // neither heartbeat nor result within the window
	StaleNoResults = "no_results"     // heartbeats, but no result within the window
)

// StaleDevice is an enrolled device that stopped producing evidence.
type StaleDevice struct {
	DeviceID      string     `json:"device_id"`
	Hostname      string     `json:"hostname"`
	OS            string     `json:"os"`
	Reason        string     `json:"reason"`
	LastHeartbeat *time.Time `json:"last_heartbeat,omitempty"`
	LastResult    *time.Time `json:"last_result,omitempty"`
	// LastSeen is the later of the two; nil when never seen.
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// SilentSeconds is how long before At the device was last seen (or
	// enrolled, if never seen).
	SilentSeconds int64 `json:"silent_s"`
}

// StaleReport lists stale devices as of At and the spool gaps agents
// reported in [GapsFrom, GapsTo).
type StaleReport struct {
	At            time.Time        `json:"at"`
	WindowSeconds int64            `json:"window_s"`
	Devices       int              `json:"devices"` // enrolled and not revoked at At
	Stale         []StaleDevice    `json:"stale"`
	GapsFrom      time.Time        `json:"gaps_from"`
	GapsTo        time.Time        `json:"gaps_to"`
	Gaps          []store.SpoolGap `json:"gaps"`
}

// DefaultWindow is three times the shortest check interval in cat: a
// device that missed three runs of its most frequent check is stale.
func DefaultWindow(cat *queries.Catalog) time.Duration {
	shortest := queries.MaxInterval
	for _, c := range cat.Checks {
		shortest = min(shortest, c.Interval)
	}
	return 3 * shortest
}

// Stale lists the devices enrolled at or before at, and not revoked by
// then, whose last heartbeat or last result is older than window. It is
// pure, so the rules are table-tested.
func Stale(at time.Time, window time.Duration, devices []store.Device, revs []store.Revocation, seen []store.Seen) (active int, stale []StaleDevice) {
	bySeen := make(map[string]store.Seen, len(seen))
	for _, s := range seen {
		bySeen[s.DeviceID] = s
	}
	revoked := map[string]bool{}
	for _, r := range revs {
		if !r.RevokedAt.After(at) {
			revoked[r.DeviceID] = true
		}
	}
	cutoff := at.Add(-window)
	stale = []StaleDevice{}
	for _, d := range devices {
		if d.EnrolledAt.After(at) || revoked[d.DeviceID] {
			continue
		}
		active++
		s := bySeen[d.DeviceID]
		sd := StaleDevice{DeviceID: d.DeviceID, Hostname: d.Hostname, OS: d.OS,
			LastHeartbeat: timePtr(s.LastHeartbeat), LastResult: timePtr(s.LastResult)}
		last := s.LastHeartbeat
		if s.LastResult.After(last) {
			last = s.LastResult
		}
		sd.LastSeen = timePtr(last)
		since := last
		switch {
		case last.IsZero():
			sd.Reason, since = StaleNever, d.EnrolledAt
			// A device enrolled within the window has not missed anything yet.
			if d.EnrolledAt.After(cutoff) {
				continue
			}
		case last.Before(cutoff):
			sd.Reason = StaleSilent
		case s.LastResult.Before(cutoff):
			sd.Reason, since = StaleNoResults, s.LastResult
			if s.LastResult.IsZero() {
				since = d.EnrolledAt
			}
			if since.After(cutoff) {
				continue
			}
		default:
			continue
		}
		sd.SilentSeconds = int64(at.Sub(since) / time.Second)
		stale = append(stale, sd)
	}
	// Longest silent first: what to chase first.
	sort.SliceStable(stale, func(i, j int) bool {
		if stale[i].SilentSeconds != stale[j].SilentSeconds {
			return stale[i].SilentSeconds > stale[j].SilentSeconds
		}
		return stale[i].DeviceID < stale[j].DeviceID
	})
	return active, stale
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// StaleSource is the data FindStale reads; *store.Store is one.
type StaleSource interface {
	Devices(ctx context.Context) ([]store.Device, error)
	Revocations(ctx context.Context) ([]store.Revocation, error)
	LastSeen(ctx context.Context, deviceIDs []string, at time.Time, recent time.Duration) ([]store.Seen, error)
	Gaps(ctx context.Context, from, to time.Time) ([]store.SpoolGap, error)
}

// StaleRequest asks for stale devices as of At and gaps in [GapsFrom, GapsTo).
type StaleRequest struct {
	At       time.Time
	Window   time.Duration
	GapsFrom time.Time
	GapsTo   time.Time
}

// FindStale reads what a stale report needs from src and builds it.
func FindStale(ctx context.Context, src StaleSource, req StaleRequest) (StaleReport, error) {
	devices, err := src.Devices(ctx)
	if err != nil {
		return StaleReport{}, err
	}
	revs, err := src.Revocations(ctx)
	if err != nil {
		return StaleReport{}, err
	}
	ids := make([]string, len(devices))
	for i, d := range devices {
		ids[i] = d.DeviceID
	}
	seen, err := src.LastSeen(ctx, ids, req.At, req.Window)
	if err != nil {
		return StaleReport{}, err
	}
	gaps, err := src.Gaps(ctx, req.GapsFrom, req.GapsTo)
	if err != nil {
		return StaleReport{}, err
	}
	rep := StaleReport{At: req.At.UTC(), WindowSeconds: int64(req.Window / time.Second),
		GapsFrom: req.GapsFrom.UTC(), GapsTo: req.GapsTo.UTC(), Gaps: gaps}
	rep.Devices, rep.Stale = Stale(req.At, req.Window, devices, revs, seen)
	return rep, nil
}
