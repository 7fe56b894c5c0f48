package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// Source is the data Compute reads; *store.Store is one. An interface so
// the API and tests can call Compute with whatever holds the data.
type Source interface {
	Devices(ctx context.Context) ([]store.Device, error)
	Revocations(ctx context.Context) ([]store.Revocation, error)
	ComplianceDays(ctx context.Context, checks []string, from, to time.Time) ([]store.CheckDays, error)
}

// Request asks for period compliance of one check or one control.
type Request struct {
	CheckID string    `json:"check_id,omitempty"`
	Control string    `json:"control,omitempty"` // e.g. CC6.1
	From    time.Time `json:"from"`
	To      time.Time `json:"to"` // exclusive
	// Now caps a running period (see Input.Now); zero means no cap.
	Now time.Time `json:"-"`
}

// Compute reads what a report needs from src and builds it. Exceptions
// are an input, as known by the caller (for a reproducible report: as
// recorded at the period's end).
func Compute(ctx context.Context, src Source, cat *queries.Catalog, req Request, exceptions []store.Exception) (Report, error) {
	checks, err := ChecksFor(cat, req.CheckID, req.Control)
	if err != nil {
		return Report{}, err
	}
	if !req.To.After(req.From) {
		return Report{}, fmt.Errorf("compliance: period %s to %s is empty", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))
	}
	ids := make([]string, len(checks))
	for i, c := range checks {
		ids[i] = c.ID
	}
	devices, err := src.Devices(ctx)
	if err != nil {
		return Report{}, err
	}
	revs, err := src.Revocations(ctx)
	if err != nil {
		return Report{}, err
	}
	days, err := src.ComplianceDays(ctx, ids, req.From, req.To)
	if err != nil {
		return Report{}, err
	}
	return Build(Input{
		CheckID: req.CheckID, Control: req.Control, From: req.From, To: req.To, Now: req.Now,
		Checks: checks, Devices: devices, Revocations: revs, Exceptions: exceptions, Days: days,
	}), nil
}

// The store is the production Source and StaleSource.
var (
	_ Source      = (*store.Store)(nil)
	_ StaleSource = (*store.Store)(nil)
)
