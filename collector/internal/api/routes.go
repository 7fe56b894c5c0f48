package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/posture"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/queries"
)

// Deps are what the built-in routes read.
type Deps struct {
	Store   *store.Store
	Catalog *queries.Catalog
	Now     func() time.Time
}

func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// QueryTime reads an instant from a query parameter: RFC 3339, or a date
// meaning the end of that day (UTC); def when absent.
func QueryTime(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, time.UTC); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	return time.Time{}, Errorf(http.StatusBadRequest, "%s=%q: want RFC 3339 or YYYY-MM-DD", name, v)
}

// Register adds the core routes: whoami, posture, devices, revoke.
func Register(a *API, d Deps) {
	a.Handle("GET /api/v1/whoami", Everyone, func(w http.ResponseWriter, r *http.Request, tok store.Token) error {
		return WriteJSON(w, tok)
	})

	a.Handle("GET /api/v1/posture", Readers, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		at, err := QueryTime(r, "at", d.now())
		if err != nil {
			return err
		}
		stale := 3
		if v := r.URL.Query().Get("stale_after"); v != "" {
			if stale, err = strconv.Atoi(v); err != nil || stale < 1 {
				return Errorf(http.StatusBadRequest, "stale_after=%q: want a whole number of check intervals ≥ 1", v)
			}
		}
		rep, err := posture.Compute(r.Context(), d.Store, at, d.Catalog, posture.Options{StaleAfter: stale})
		if err != nil {
			return err
		}
		return WriteJSON(w, rep)
	})

	a.Handle("GET /api/v1/devices", Readers, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		devices, err := d.Store.Devices(r.Context())
		if err != nil {
			return err
		}
		if devices == nil {
			devices = []store.Device{}
		}
		return WriteJSON(w, devices)
	})

	a.Handle("POST /api/v1/devices/{id}/revoke", Admins, func(w http.ResponseWriter, r *http.Request, tok store.Token) error {
		var body struct {
			Reason string `json:"reason"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil || body.Reason == "" {
			return Errorf(http.StatusBadRequest, `body must be {"reason": "..."}`)
		}
		dev, err := d.Store.Device(r.Context(), r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(http.StatusNotFound, "no device %q", r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		rev := store.Revocation{DeviceID: dev.DeviceID, PublicKey: dev.PublicKey, RevokedAt: d.now().UTC(),
			Reason: body.Reason, RevokedBy: "token:" + tok.ID + " (" + tok.Name + ")"}
		if err := d.Store.Revoke(r.Context(), rev); err != nil {
			return err
		}
		return WriteJSON(w, rev)
	})
}
