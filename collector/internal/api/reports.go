package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/compliance"
	"github.com/fleetproof/fleetproof/collector/internal/inventory"
	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// MaxInventoryUpload bounds an inventory export sent to POST /api/v1/inventory.
const MaxInventoryUpload = 32 << 20

// HistoryReport answers GET /api/v1/devices/{id}/history; it has the
// shape of `history -format json`.
type HistoryReport struct {
	DeviceID string               `json:"device_id"`
	CheckID  string               `json:"check_id,omitempty"`
	From     *time.Time           `json:"from,omitempty"`
	To       time.Time            `json:"to"`
	Entries  []store.HistoryEntry `json:"entries"`
}

// TrendReport answers GET /api/v1/compliance?trend=1: the daily trend
// alone, as `compliance -format csv -trend` prints it.
type TrendReport struct {
	CheckID string           `json:"check_id,omitempty"`
	Control string           `json:"control,omitempty"`
	Checks  []string         `json:"checks"`
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	Trend   []compliance.Day `json:"trend"`
}

// ExceptionBody is the body of POST /api/v1/exceptions, named as the
// flags of `exception add`. Expires is a date (meaning the end of that
// day, UTC) or RFC 3339.
type ExceptionBody struct {
	Check      string `json:"check"`
	Device     string `json:"device,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Reason     string `json:"reason"`
	ApprovedBy string `json:"approved_by"`
	Expires    string `json:"expires"`
}

// RegisterReports adds the routes that answer what the CLI's history,
// compliance, stale, reconcile, exception and inventory commands answer,
// with the same logic:
//
//	GET  /api/v1/devices/{id}/history?check=&from=&to=
//	GET  /api/v1/compliance?check=ID|control=CC6.1&from=DATE&to=DATE[&trend=1]
//	GET  /api/v1/stale?at=&window=&gaps_from=
//	GET  /api/v1/reconcile?at=&snapshot=
//	GET  /api/v1/exceptions?at=[&active=1]
//	POST /api/v1/exceptions
//	POST /api/v1/exceptions/{id}/revoke
//	GET  /api/v1/inventory
//	POST /api/v1/inventory?source=   (a CSV body, or multipart file and mapping parts)
//
// Auditors may read compliance only, by control, within their grant.
func RegisterReports(a *API, d Deps) {
	a.Handle("GET /api/v1/devices/{id}/history", Readers, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		q := r.URL.Query()
		rep := HistoryReport{DeviceID: r.PathValue("id"), CheckID: q.Get("check"), To: d.now().UTC().Truncate(time.Second)}
		var start time.Time
		if v := q.Get("from"); v != "" {
			var err error
			if start, err = compliance.ParsePeriodStart(v); err != nil {
				return Errorf(http.StatusBadRequest, "from: %v", err)
			}
			rep.From = &start
		}
		if v := q.Get("to"); v != "" {
			var err error
			if rep.To, err = compliance.ParsePeriodEnd(v); err != nil {
				return Errorf(http.StatusBadRequest, "to: %v", err)
			}
		}
		if rep.CheckID != "" {
			if _, ok := d.Catalog.Check(rep.CheckID); !ok {
				return Errorf(http.StatusBadRequest, "check=%q: no such check in pack %s %s", rep.CheckID, d.Catalog.Pack.Name, d.Catalog.Pack.Version)
			}
		}
		if _, err := d.Store.Device(r.Context(), rep.DeviceID); errors.Is(err, store.ErrNotFound) {
			return Errorf(http.StatusNotFound, "no device %q", rep.DeviceID)
		} else if err != nil {
			return a.unavailable(r, err)
		}
		entries, err := d.Store.History(r.Context(), rep.DeviceID, rep.CheckID, start, rep.To)
		if err != nil {
			return a.unavailable(r, err)
		}
		rep.Entries = orEmpty(entries)
		return WriteJSON(w, rep)
	})

	a.Handle("GET /api/v1/compliance", Everyone, func(w http.ResponseWriter, r *http.Request, tok store.Token) error {
		q := r.URL.Query()
		req := compliance.Request{CheckID: q.Get("check"), Control: q.Get("control")}
		if (req.CheckID == "") == (req.Control == "") {
			return Errorf(http.StatusBadRequest, "want exactly one of check or control (e.g. ?control=CC6.1&from=2026-01-01&to=2026-06-30)")
		}
		if q.Get("from") == "" || q.Get("to") == "" {
			return Errorf(http.StatusBadRequest, "from and to are required (e.g. from=2026-01-01&to=2026-06-30)")
		}
		var err error
		if req.From, err = compliance.ParsePeriodStart(q.Get("from")); err != nil {
			return Errorf(http.StatusBadRequest, "from: %v", err)
		}
		if req.To, err = compliance.ParsePeriodEnd(q.Get("to")); err != nil {
			return Errorf(http.StatusBadRequest, "to: %v", err)
		}
		if !req.To.After(req.From) {
			return Errorf(http.StatusBadRequest, "to %s is not after from %s", q.Get("to"), q.Get("from"))
		}
		if _, err := compliance.ChecksFor(d.Catalog, req.CheckID, req.Control); err != nil {
			return Errorf(http.StatusBadRequest, "%v", err)
		}
		// A grant names controls; a check may evidence several, so an
		// auditor asks by control. To is exclusive; the grant's end is not.
		if Role(tok.Role) == RoleAuditor && req.CheckID != "" {
			return Errorf(http.StatusForbidden, "an auditor token asks by control (granted: %s), not by check", strings.Join(tok.Controls, ", "))
		}
		if err := AuditorGrant(tok, []string{req.Control}, req.From, req.To.Add(-time.Second)); err != nil {
			return err
		}
		excs, err := compliance.ExceptionsAsRecorded(r.Context(), d.Store, req.To)
		if err != nil {
			return a.unavailable(r, err)
		}
		req.Now = d.now()
		rep, err := compliance.Compute(r.Context(), d.Store, d.Catalog, req, excs)
		if err != nil {
			return a.unavailable(r, err)
		}
		if on, _ := boolParam(r, "trend"); on {
			return WriteJSON(w, TrendReport{CheckID: rep.CheckID, Control: rep.Control, Checks: rep.Checks, From: rep.From, To: rep.To,
				Trend: orEmpty(rep.Trend)})
		}
		return WriteJSON(w, rep)
	})

	a.Handle("GET /api/v1/stale", Readers, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		at, err := QueryTime(r, "at", d.now().UTC().Truncate(time.Second))
		if err != nil {
			return err
		}
		var window time.Duration
		if v := r.URL.Query().Get("window"); v != "" {
			if window, err = time.ParseDuration(v); err != nil || window < 0 {
				return Errorf(http.StatusBadRequest, "window=%q: want a positive duration such as 3h or 90m", v)
			}
		}
		req := compliance.NewStaleRequest(at, window, d.Catalog)
		if v := r.URL.Query().Get("gaps_from"); v != "" {
			if req.GapsFrom, err = compliance.ParsePeriodStart(v); err != nil {
				return Errorf(http.StatusBadRequest, "gaps_from: %v", err)
			}
		}
		rep, err := compliance.FindStale(r.Context(), d.Store, req)
		if err != nil {
			return a.unavailable(r, err)
		}
		rep.Stale, rep.Gaps = orEmpty(rep.Stale), orEmpty(rep.Gaps)
		return WriteJSON(w, rep)
	})

	a.Handle("GET /api/v1/reconcile", Readers, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		at, err := QueryTime(r, "at", d.now())
		if err != nil {
			return err
		}
		snapshot := r.URL.Query().Get("snapshot")
		rec, err := inventory.ReconcileAt(r.Context(), d.Store, at, snapshot)
		switch {
		case errors.Is(err, store.ErrNotFound) && snapshot != "":
			return Errorf(http.StatusNotFound, "no inventory snapshot %q (GET /api/v1/inventory lists them)", snapshot)
		case errors.Is(err, store.ErrNotFound):
			return Errorf(http.StatusNotFound, "no inventory snapshot imported at or before %s (POST an export to /api/v1/inventory)",
				at.UTC().Format(time.RFC3339))
		case err != nil:
			return a.unavailable(r, err)
		}
		return WriteJSON(w, rec)
	})

	a.Handle("GET /api/v1/exceptions", Readers, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		at, err := QueryTime(r, "at", d.now())
		if err != nil {
			return err
		}
		active, err := boolParam(r, "active")
		if err != nil {
			return err
		}
		list := d.Store.Exceptions
		if active {
			list = d.Store.ActiveExceptions
		}
		rs, err := list(r.Context(), at)
		if err != nil {
			return a.unavailable(r, err)
		}
		return WriteJSON(w, orEmpty(rs))
	})

	a.Handle("POST /api/v1/exceptions", Admins, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		var body ExceptionBody
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return Errorf(http.StatusBadRequest, `body must be {"check": ID, "device": ID or "tag": "key=value", "reason": "...", "approved_by": "...", "expires": DATE}: %v`, err)
		}
		// The approver is recorded as given: an exception has no field for
		// the token, and the access record keeps which token asked.
		req := store.ExceptionRequest{CheckID: body.Check, DeviceID: body.Device, Tag: body.Tag, Reason: body.Reason,
			ApprovedBy: body.ApprovedBy}
		if body.Expires != "" {
			var err error
			if req.Expires, err = compliance.ParseInstant(body.Expires); err != nil {
				return Errorf(http.StatusBadRequest, "expires: %v", err)
			}
		}
		rec, err := d.Store.AddException(r.Context(), req)
		if errors.Is(err, store.ErrInvalidException) {
			return Errorf(http.StatusBadRequest, "%v", err)
		}
		if err != nil {
			return a.unavailable(r, err)
		}
		return writeCreated(w, rec)
	})

	a.Handle("POST /api/v1/exceptions/{id}/revoke", Admins, func(w http.ResponseWriter, r *http.Request, tok store.Token) error {
		id := r.PathValue("id")
		rec, err := d.Store.RevokeException(r.Context(), id, "token:"+tok.ID+" ("+tok.Name+")")
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Errorf(http.StatusNotFound, "no exception %q", id)
		case errors.Is(err, store.ErrExceptionClosed):
			return Errorf(http.StatusConflict, "%v", err)
		case err != nil:
			return a.unavailable(r, err)
		}
		return WriteJSON(w, rec)
	})

	a.Handle("GET /api/v1/inventory", Readers, func(w http.ResponseWriter, r *http.Request, _ store.Token) error {
		snaps, err := d.Store.InventorySnapshots(r.Context())
		if err != nil {
			return a.unavailable(r, err)
		}
		return WriteJSON(w, orEmpty(snaps))
	})

	a.Handle("POST /api/v1/inventory", Admins, func(w http.ResponseWriter, r *http.Request, tok store.Token) error {
		data, mappingYAML, err := readInventoryUpload(w, r)
		if err != nil {
			return err
		}
		var m inventory.Mapping
		if len(mappingYAML) > 0 {
			if m, err = inventory.ParseMapping(mappingYAML); err != nil {
				return Errorf(http.StatusBadRequest, "mapping: %v", err)
			}
		}
		// Parse first, so a broken file is a 400 and not a storage error.
		if _, err := inventory.Parse(data, m); err != nil {
			return Errorf(http.StatusBadRequest, "%v", err)
		}
		source := r.URL.Query().Get("source")
		if source == "" {
			source = "api-upload"
		}
		res, err := inventory.Import(r.Context(), d.Store, data, inventory.ImportOptions{Source: source,
			ImportedBy: "token:" + tok.ID + " (" + tok.Name + ")", Mapping: m, Now: d.now()})
		if err != nil {
			return a.unavailable(r, err)
		}
		return writeCreated(w, res)
	})
}

// readInventoryUpload reads an export sent as the body (text/csv or any
// other non-multipart type), or as the file part of a multipart form with
// an optional mapping part (YAML).
func readInventoryUpload(w http.ResponseWriter, r *http.Request) (data, mapping []byte, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxInventoryUpload)
	tooBig := func(err error) error {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Errorf(http.StatusRequestEntityTooLarge, "the export is larger than %d MiB", MaxInventoryUpload>>20)
		}
		return Errorf(http.StatusBadRequest, "reading the upload: %v", err)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(MaxInventoryUpload); err != nil {
			return nil, nil, tooBig(err)
		}
		part := func(name string) ([]byte, error) {
			if f, _, err := r.FormFile(name); err == nil {
				defer f.Close()
				return io.ReadAll(f)
			}
			return []byte(r.FormValue(name)), nil
		}
		if data, err = part("file"); err != nil {
			return nil, nil, tooBig(err)
		}
		if mapping, err = part("mapping"); err != nil {
			return nil, nil, tooBig(err)
		}
	} else if data, err = io.ReadAll(r.Body); err != nil {
		return nil, nil, tooBig(err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, nil, Errorf(http.StatusBadRequest, "send the CSV export as the body (Content-Type: text/csv), or as the file part of a multipart form")
	}
	return data, mapping, nil
}

// unavailable answers a failed storage call with 503, as the token lookup
// does, and logs the cause rather than sending it to the client.
func (a *API) unavailable(r *http.Request, err error) error {
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	a.log.Error("storage call failed", "path", r.URL.Path, "err", err)
	return Errorf(http.StatusServiceUnavailable, "storage unavailable; retry later")
}

// boolParam reads an optional flag: 1/true/yes or 0/false/no.
func boolParam(r *http.Request, name string) (bool, error) {
	switch v := strings.ToLower(r.URL.Query().Get(name)); v {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	default:
		return false, Errorf(http.StatusBadRequest, "%s=%q: want 1 or 0", name, v)
	}
}

func writeCreated(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	return WriteJSON(w, v)
}

// orEmpty answers an empty list as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
