package extract

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/queries"
)

// fileDescriptions say what each file is, in the README's file table.
var fileDescriptions = map[string]string{
	PopulationFile: "Every in-scope device: enrolled devices, reconciled with the asset inventory when one was imported (status matched / missing / unknown / out_of_scope), else marked \"" + NoInventory + "\".",
	DailyFile:      "Every device's results of the checks below, per UTC day of the period: how many results, how many passed, failed, errored or were not applicable, the first and last observation, the day's last status and first failure. Population-wide.",
	EvidenceFile:   "The stored results themselves, one row per check run, of the sampled devices (every device when the extract was made with --all-results): device, check, observed_at, status, reason or error, the rows that explain the status (JSON), check version, pack version, engine.",
	ComplianceFile: "Period compliance per device and check (method below).",
	ExceptionsFile: "Exceptions to these checks in force at some time in the period: who approved them, why, until when, and revocations.",
	GapsFile:       "Spool gaps overlapping the period: stretches where an agent had to drop results, with how many it dropped. Gaps are evidence too: they are shown, not hidden.",
	SampleFile:     "Devices drawn reproducibly from the population for testing (algorithm and seed below).",
	WorkbookFile:   "The same data as the CSV files, one sheet per file (continued on further sheets past Excel's row limit; evidence_daily.csv is left out when it could outgrow a sheet, see Evidence below), every cell text.",
	ReadmeFile:     "This file.",
	ManifestFile:   "Format version, period, controls, checks, seed, sample size, and the name, size and SHA-256 of every other file; signed.",
	SignatureFile:  "Base64 ed25519 signature over the exact bytes of manifest.json.",
}

func (w *writer) writeReadme(m *Manifest, p *population, exc *exceptionSet, controls []controlSummary) error {
	var b strings.Builder
	pf := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	pf("# Fleetproof evidence extract\n\n")
	pf("| | |\n|---|---|\n")
	pf("| Controls | %s |\n", strings.Join(m.Controls, ", "))
	pf("| Period | %s to %s inclusive, UTC: observations from %s up to, not including, %s |\n",
		m.Period.From, m.Period.To, m.Period.Start.Format(time.RFC3339), m.Period.EndExclusive.Format(time.RFC3339))
	pf("| Generated at | %s (see Conventions) |\n", m.GeneratedAt.Format(time.RFC3339))
	pf("| Generator | %s %s, check pack %s %s |\n", m.Generator.Name, m.Generator.Version, m.Generator.Pack, m.Generator.PackVersion)
	pf("| Signing key | ed25519, fingerprint `%s` |\n", m.SigningKey.Fingerprint)
	pf("| Sample | %d of %d devices, seed %d |\n\n", m.Sample.Size, m.Sample.FrameSize, m.Sample.Seed)

	pf("## Files\n\n| File | Rows | Bytes | SHA-256 | What it is |\n|---|---|---|---|---|\n")
	for _, f := range m.Files {
		rows := ""
		if f.Rows != nil {
			rows = fmt.Sprint(*f.Rows)
		}
		pf("| %s | %s | %d | `%s` | %s |\n", f.Name, rows, f.Size, f.SHA256, fileDescriptions[f.Name])
	}
	pf("| %s | | | in %s | %s |\n", ReadmeFile, ManifestFile, fileDescriptions[ReadmeFile])
	pf("| %s | | | | %s |\n", ManifestFile, fileDescriptions[ManifestFile])
	pf("| %s | | | | %s |\n", SignatureFile, fileDescriptions[SignatureFile])
	pf("\nRow counts exclude the header line. The README's own hash is in %s (it cannot contain it).\n\n", ManifestFile)

	w.readmeControls(&b, m)
	w.readmeScope(&b, m, p, exc)
	pf("## Compliance\n\nPer control, devices of the population by their period status, and device-days:\n\n")
	pf("| Control | Days | Devices | Compliant | Partial | Never | Excepted | No evidence | Not applicable | Compliant-day share | Failed / remediated |\n")
	pf("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range controls {
		f, share := c.Fleet, "n/a"
		if f.DeviceDays.Share != nil {
			share = fmt.Sprintf("%.2f%%", *f.DeviceDays.Share*100)
		}
		pf("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %s | %d / %d |\n", c.Control, c.Days, f.Devices, f.Compliant,
			f.Partial, f.Never, f.Excepted, f.NoEvidence, f.NotApplicable, share, f.Failed, f.Remediated)
	}
	pf("\n**Method.** %s\n\n", m.Compliance)
	pf("## Sample\n\n%d device(s) drawn from a frame of %d (population rows with a device_id whose inventory_status is not "+
		"missing or out_of_scope), seed %d (%s). Algorithm: %s.\n\n"+
		"`fleetproof-collector verify` re-draws the sample from population.csv and the seed and checks it equals sample.csv.\n\n",
		m.Sample.Size, m.Sample.FrameSize, m.Sample.Seed, seedOrigin(w.opts), m.Sample.Algorithm)

	pf("## Conventions\n\n")
	pf("- Every instant is RFC 3339 in UTC (`Z`), with a fractional second only when it has one.\n")
	pf("- generated_at is %s.\n", m.GeneratedAtRule)
	pf("- CSV files are UTF-8 with a byte-order mark (so Excel detects UTF-8), comma-separated, CRLF line ends, quoted per RFC 4180; a field may contain commas, quotes and line breaks.\n")
	pf("- To keep spreadsheets from running device-supplied text as a formula, a CSV cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading apostrophe (`'`). evidence.xlsx holds every value unchanged, as text.\n")
	pf("- evidence.xlsx: a sheet that would exceed Excel's %d rows continues on a sheet named like \"evidence (2)\"; a cell longer than Excel's %d characters is cut with a note (%d such cells in this workbook); the CSV files hold every value whole.\n",
		maxSheetRows, maxCellChars, w.book.Truncated)
	pf("- `rows` in evidence.csv is the JSON array the check's query returned on the device (every value a string, as osquery returns them).\n\n")
	readmeVerify(&b, m)

	return os.WriteFile(filepath.Join(w.dir, ReadmeFile), []byte(b.String()), 0o644)
}

func seedOrigin(o Options) string {
	if o.Seed == DefaultSeed(o.Controls, o.From.UTC().Format(time.DateOnly), o.To.UTC().Format(time.DateOnly)) {
		return "the default: the first 8 bytes, big-endian, of SHA-256(\"fleetproof-sample|\" + controls joined by \",\" + \"|\" + from + \"|\" + to)"
	}
	return "chosen when the extract was made"
}

func (w *writer) readmeControls(b *strings.Builder, m *Manifest) {
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	pf("## Controls and the checks that evidence them\n\n")
	for _, ctl := range m.Controls {
		var ids []string
		for _, c := range w.checks {
			if slices.Contains(c.Criteria, ctl) {
				ids = append(ids, fmt.Sprintf("`%s` (%s)", c.ID, c.Title))
			}
		}
		pf("- **%s**: %s\n", ctl, strings.Join(ids, "; "))
	}
	pf("\n")
	for _, c := range w.checks {
		pf("### %s — %s\n\n", c.ID, c.Title)
		pf("Check version %d, severity %s, runs every %s; evidences %s.\n\n", c.Version, c.Severity, interval(c.Interval), strings.Join(c.Criteria, ", "))
		pf("%s\n\n", c.Description)
		pf("**Pass rule.** %s The query's rows decide: the check passes when every row has `%s` = 1; it fails when "+
			"any row has another value; when the query returns no rows the result is `%s`%s.\n\n",
			c.PassWhen, queries.CompliantColumn, c.WhenEmpty, emptyOverrides(c))
		for _, goos := range slices.Sorted(maps.Keys(c.Platforms)) {
			q := c.Platforms[goos]
			pf("%s:\n\n```sql\n%s\n```\n\n", goos, strings.TrimSpace(q.SQL))
			if q.Notes != "" {
				pf("%s\n\n", q.Notes)
			}
		}
	}
}

func emptyOverrides(c queries.Check) string {
	var o []string
	for _, goos := range slices.Sorted(maps.Keys(c.Platforms)) {
		if we := c.Platforms[goos].WhenEmpty; we != "" {
			o = append(o, fmt.Sprintf("`%s` on %s", we, goos))
		}
	}
	if len(o) == 0 {
		return ""
	}
	return " (" + strings.Join(o, ", ") + ")"
}

func (w *writer) readmeScope(b *strings.Builder, m *Manifest, p *population, exc *exceptionSet) {
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	pf("## Scope and completeness\n\n")
	pf("**Population.** Every device enrolled before the end of the period and not revoked before its start "+
		"(%d devices). A device revoked during the period stays in, with its revocation time.\n\n", len(p.members))
	counts := map[string]int{}
	for _, r := range p.rows {
		counts[r.status]++
	}
	if inv := m.Inventory; inv != nil {
		pf("**Inventory.** Reconciled with inventory snapshot `%s` (%s): imported %s from %q, %d rows, SHA-256 of the imported file `%s`. ",
			inv.SnapshotID, p.SnapshotRule, inv.ImportedAt.Format(time.RFC3339), inv.Source, inv.Rows, inv.FileSHA256)
		pf("Devices are matched to inventory rows by serial, then hardware UUID, then (flagged weak) a unique hostname. "+
			"In population.csv: %d matched, %d missing (in-scope inventory rows no enrolled device matches: they produced no evidence), "+
			"%d unknown (enrolled devices the inventory does not list), %d out_of_scope rows.\n\n",
			counts["matched"], counts["missing"], counts["unknown"], counts["out_of_scope"])
	} else {
		pf("**Inventory.** No asset inventory snapshot was available (%s), so completeness rests on enrollment alone: "+
			"every enrolled device is listed as %q. Import the MDM or CMDB export to reconcile missing devices.\n\n", p.SnapshotRule, NoInventory)
	}
	scope := "of the sampled devices (sample.csv): the population's results are counted per day in evidence_daily.csv, " +
		"and any device's own results can be extracted in full with --all-results or read through the collector's history"
	if w.opts.AllResults {
		scope = "of every device (the extract was made with --all-results)"
	}
	daily := ""
	if !w.dailyInBook {
		daily = fmt.Sprintf("evidence_daily.csv (%d rows) is not in evidence.xlsx: the population's device-days of these checks "+
			"could exceed the 1,048,576 rows of an Excel worksheet, so open it with a tool that reads CSV of that size "+
			"(Excel itself shows only the first million rows of it). ", w.files[DailyFile])
	}
	pf("**Evidence.** evidence_daily.csv counts, for every device, check and day of the period, the results stored with an "+
		"observation time in it, per status: nothing is filtered out by status or device. evidence.csv lists every such "+
		"result, with the detail that explains it, "+scope+". A result delivered twice (agents resend until acknowledged) "+
		"is stored, counted and listed once. "+daily+"compliance.csv lists every population device with every check that applies to its platform, "+
		"including pairs with no results at all, so silence is visible; gaps.csv lists the %d spool gaps agents reported "+
		"in the period; exceptions.csv lists %d exception(s). Results an agent never sent and never reported as dropped "+
		"show as pairs with few or no results in compliance.csv.\n\n", w.files[GapsFile], len(exc.records))
}

func readmeVerify(b *strings.Builder, m *Manifest) {
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	pf("## How to verify\n\n")
	pf("First obtain the collector's key fingerprint out of band (the operator runs `fleetproof-collector extract-key`); "+
		"it must be `%s`.\n\n", m.SigningKey.Fingerprint)
	pf("**With the Fleetproof tool** (offline, no database):\n\n```\nfleetproof-collector verify -key %s DIR\n```\n\n", m.SigningKey.Fingerprint)
	pf("It checks the signature, every file's size and SHA-256, files added or removed, and the sample draw; it names every file " +
		"that differs and exits non-zero if anything does.\n\n")
	pf("**By hand** (OpenSSL 3, coreutils; jq is optional), in DIR:\n\n")
	pf("1. Save the public key, which is also `signing_key.public_key_pem` in manifest.json:\n\n```\ncat > key.pem <<'EOF'\n%sEOF\n```\n\n", m.SigningKey.PublicKeyPEM)
	pf("2. Check its fingerprint against the one obtained out of band:\n\n```\nopenssl pkey -pubin -in key.pem -outform DER | sha256sum\n```\n\n")
	pf("3. Check the signature over the exact bytes of manifest.json (expect \"Signature Verified Successfully\"):\n\n" +
		"```\nbase64 -d manifest.sig > manifest.sig.bin\nopenssl pkeyutl -verify -pubin -inkey key.pem -rawin -in manifest.json -sigfile manifest.sig.bin\n```\n\n")
	pf("4. Check every file's hash against the signed manifest (each line must say OK):\n\n" +
		"```\njq -r '.files[] | \"\\(.sha256)  \\(.name)\"' manifest.json | sha256sum -c -\n```\n\n" +
		"Without jq, compare `sha256sum *.csv *.xlsx README.md` with the `sha256` of each entry under `files` in manifest.json. " +
		"The bundle must hold no other files than those listed, manifest.json and manifest.sig (remove key.pem and manifest.sig.bin afterwards).\n")
}

// interval prints 1h rather than Go's 1h0m0s.
func interval(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
