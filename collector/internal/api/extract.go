package api

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/internal/settings"
	"github.com/fleetproof/fleetproof/queries"
)

// ExtractDeps are what the extract download needs.
type ExtractDeps struct {
	Store   extract.Source
	Catalog *queries.Catalog
	// Key signs manifests: extract.LoadOrCreateKey(<data_dir>/auth/manifest.key),
	// the same key the extract command uses, so bundles from either verify
	// against one fingerprint.
	Key     ed25519.PrivateKey
	Version string
	// TempDir is where bundles are assembled before they are sent; the
	// system's temporary directory when empty.
	TempDir string
}

// RegisterExtract adds
//
//	GET /api/v1/extract?controls=CC6.1,CC7.1&from=2026-01-01&to=2026-06-30[&sample=25][&seed=S][&all_results=true]
//
// which answers the signed evidence bundle as a zip archive. An auditor
// token gets it only for controls and a period within its grant.
func RegisterExtract(a *API, d ExtractDeps) {
	a.Handle("GET /api/v1/extract", Everyone, func(w http.ResponseWriter, r *http.Request, tok store.Token) error {
		q := r.URL.Query()
		o := extract.Options{Controls: settings.SplitList(q.Get("controls")), SampleSize: 25, Catalog: d.Catalog,
			Key: d.Key, Version: d.Version}
		if len(o.Controls) == 0 || q.Get("from") == "" || q.Get("to") == "" {
			return Errorf(http.StatusBadRequest, "controls, from and to are required (e.g. ?controls=CC6.1&from=2026-01-01&to=2026-06-30)")
		}
		var err error
		for name, dst := range map[string]*time.Time{"from": &o.From, "to": &o.To} {
			if *dst, err = time.ParseInLocation(time.DateOnly, q.Get(name), time.UTC); err != nil {
				return Errorf(http.StatusBadRequest, "%s=%q: want YYYY-MM-DD", name, q.Get(name))
			}
		}
		if o.To.Before(o.From) {
			return Errorf(http.StatusBadRequest, "to is before from")
		}
		// The grant covers whole days: its end is the last second of the last day.
		if err := AuditorGrant(tok, o.Controls, o.From, o.To.Add(24*time.Hour-time.Second)); err != nil {
			return err
		}
		if v := q.Get("sample"); v != "" {
			if o.SampleSize, err = strconv.Atoi(v); err != nil || o.SampleSize < 0 {
				return Errorf(http.StatusBadRequest, "sample=%q: want a whole number ≥ 0", v)
			}
		}
		if v := q.Get("all_results"); v != "" {
			if o.AllResults, err = strconv.ParseBool(v); err != nil {
				return Errorf(http.StatusBadRequest, "all_results=%q: want true or false", v)
			}
		}
		o.Seed = extract.DefaultSeed(o.Controls, q.Get("from"), q.Get("to"))
		if v := q.Get("seed"); v != "" {
			if o.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
				return Errorf(http.StatusBadRequest, "seed=%q: want a whole number", v)
			}
		}
		if _, err := extract.ChecksFor(d.Catalog, o.Controls); err != nil {
			return Errorf(http.StatusBadRequest, "%v", err)
		}
		tmp, err := os.MkdirTemp(d.TempDir, "fleetproof-extract-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		// Built whole before the first byte is sent, so a failure is still
		// an HTTP error rather than a truncated archive.
		dir := filepath.Join(tmp, "bundle")
		m, err := extract.Write(r.Context(), dir, d.Store, o)
		if err != nil {
			return err
		}
		name := extract.ZipName(m)
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+".zip"))
		w.Header().Set("X-Fleetproof-Key-Fingerprint", m.SigningKey.Fingerprint)
		return extract.WriteZip(w, dir, name)
	})
}
