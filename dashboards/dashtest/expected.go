package dashtest

import "strings"

// Expectation is the exact answer of one panel in one scenario, in
// ClickHouse's TabSeparated text: one line per row, fields escaped by
// TSVField, NULL as \N.
type Expectation struct {
	Scenario, Panel string
	Columns         []string
	Rows            []string
}

// Expected returns the panels whose rows are checked exactly on the seed
// fleet (see Seed for the story each row comes from). The other panels
// must run without error; these carry the logic worth pinning down.
func Expected() []Expectation {
	byCheck := []string{"check_id", "devices", "passing", "failing", "erroring", "not_applicable", "compliance_pct"}
	failing := []string{"check_id", "device_id", "hostname", "status", "failing_since", "last_seen", "reason", "detail", "exception"}
	const notCompliant = "1 of 1 rows not compliant"
	bitlocker := `{"compliant":"0","conversion_status":"1","device_id":"\\\\?\\Volume{3f2a9c1e}\\","drive_letter":"C:","percentage_encrypted":"100","protection_status":"0"}`
	patch := `{"compliant":"0","days_since_install":"41","last_successful_install":"2025-01-31"}`
	return []Expectation{
		{Scenario: "all", Panel: "Compliance by check", Columns: byCheck, Rows: []string{
			// dev-mac-01's latest disk_encryption run is the pass 0.9 s
			// after a failing run within the same second.
			TSV("disk_encryption", "3", "2", "1", "0", "0", "66.7"),
			TSV("firewall", "3", "2", "0", "1", "0", "66.7"),
			TSV("malware_protection", "3", "2", "1", "0", "0", "66.7"),
			TSV("os_patch_currency", "3", "1", "1", "0", "1", "50"),
			TSV("screen_lock", "3", "2", "0", "0", "1", "100"),
		}},
		{Scenario: "all", Panel: "Failing devices", Columns: failing, Rows: []string{
			// Failing since the 11th although the redelivered 12th and
			// the pass after To exist; the exception is in force.
			TSV("disk_encryption", "dev-win-02", "lt-bob", "fail", "2025-03-11 10:00:00", "2025-03-13 10:00:00",
				notCompliant, bitlocker, "exc-0001 by ciso@example.com until 2025-03-31 00:00:00"),
			// Its exception was revoked before To.
			TSV("firewall", "dev-mac-01", "mbp-alice", "error", "2025-03-13 10:00:00", "2025-03-13 10:00:00",
				"", "osquery: query timed out after 30s", ""),
			// Excepted through its role=ci tag; never passed, so failing
			// since its first result.
			TSV("malware_protection", "dev-lnx-03", "srv-build", "fail", "2025-03-10 09:00:00", "2025-03-12 09:00:00",
				notCompliant, `{"compliant":"0","service":"clamav-daemon","state":"inactive"}`,
				"exc-0002 by ciso@example.com until 2025-06-30 00:00:00"),
			// Its exception expired on the 12th.
			TSV("os_patch_currency", "dev-win-02", "lt-bob", "fail", "2025-03-12 10:00:00", "2025-03-13 10:00:00",
				notCompliant, patch, ""),
		}},
		{Scenario: "all", Panel: "Compliance trend (daily)", Columns: []string{"time", "compliance_pct"}, Rows: []string{
			TSV("2025-03-10 00:00:00", "84.6"), // 11 of 13 judged pairs
			TSV("2025-03-11 00:00:00", "84.6"),
			TSV("2025-03-12 00:00:00", "76.9"),
			// dev-mac-01's disk_encryption failed for 0.8 s: a failing day.
			// dev-lnx-03 sent nothing: 6 of 10.
			TSV("2025-03-13 00:00:00", "60"),
		}},
		{Scenario: "all", Panel: "Devices that stopped reporting",
			Columns: []string{"device_id", "hostname", "os", "last_heartbeat", "hours_silent"}, Rows: []string{
				// Its heartbeat after To does not count; its revoked old
				// key does not hide it.
				TSV("dev-lnx-03", "srv-build", "linux", "2025-03-12 18:00:00", "18"),
			}},
		{Scenario: "selected", Panel: "Compliance by check", Columns: byCheck, Rows: []string{
			TSV("disk_encryption", "1", "0", "1", "0", "0", "0"),
			TSV("os_patch_currency", "1", "0", "1", "0", "0", "0"),
		}},
		{Scenario: "selected", Panel: "Failing devices", Columns: failing, Rows: []string{
			TSV("disk_encryption", "dev-win-02", "lt-bob", "fail", "2025-03-11 10:00:00", "2025-03-13 10:00:00",
				notCompliant, bitlocker, "exc-0001 by ciso@example.com until 2025-03-31 00:00:00"),
			TSV("os_patch_currency", "dev-win-02", "lt-bob", "fail", "2025-03-12 10:00:00", "2025-03-13 10:00:00",
				notCompliant, patch, ""),
		}},
	}
}

// TSV joins fields into one TabSeparated line.
func TSV(fields ...string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = TSVField(f)
	}
	return strings.Join(out, "\t")
}

// TSVField escapes a value as ClickHouse's TabSeparated output does (both
// 18.16 and 26.x escape the single quote too).
func TSVField(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "'", `\'`).Replace(s)
}
