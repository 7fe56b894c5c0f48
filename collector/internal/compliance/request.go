package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// ParseInstant reads an instant: RFC 3339 (a time without a zone is
// UTC), or a date meaning the end of that day (UTC).
func ParseInstant(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 (2006-01-02T15:04:05Z) or a date (2006-01-02, meaning its end)", s)
}

// ParsePeriodStart reads the first instant of a period: a bare date means
// the start of that day (UTC).
func ParsePeriodStart(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t, nil
	}
	return ParseInstant(s)
}

// ParsePeriodEnd reads the exclusive end of a period. A bare date names
// the period's last day, as people write periods ("2026-01-01 to
// 2026-06-30"), so the end is the following midnight.
func ParsePeriodEnd(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return ParseInstant(s)
}

// ExceptionSource is where exceptions are recorded; *store.Store is one.
type ExceptionSource interface {
	Exceptions(ctx context.Context, at time.Time) ([]store.ExceptionRecord, error)
}

// ExceptionsAsRecorded returns the exception rules as recorded at at. A
// report passes its period's end, so the report for a closed period reads
// the same whenever it is produced.
func ExceptionsAsRecorded(ctx context.Context, src ExceptionSource, at time.Time) ([]store.Exception, error) {
	recs, err := src.Exceptions(ctx, at)
	if err != nil {
		return nil, err
	}
	excs := make([]store.Exception, len(recs))
	for i, r := range recs {
		excs[i] = r.Exception()
	}
	return excs, nil
}

// NewStaleRequest asks for stale devices as of at, silent longer than
// window (zero: DefaultWindow of cat), with the spool gaps of the 30 days
// before at.
func NewStaleRequest(at time.Time, window time.Duration, cat *queries.Catalog) StaleRequest {
	if window == 0 {
		window = DefaultWindow(cat)
	}
	return StaleRequest{At: at, Window: window, GapsFrom: at.AddDate(0, 0, -30), GapsTo: at}
}

var _ ExceptionSource = (*store.Store)(nil)
