package dashtest

import (
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

// The dashboard time range every statement is expanded with. To is not a
// round hour on purpose: results and heartbeats after it must not count.
var (
	From = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	To   = time.Date(2025, 3, 13, 12, 0, 0, 0, time.UTC)
)

// Device is a row of the devices table, as store.UpsertDevice writes it.
type Device struct {
	ID, PublicKey, Hostname, OS, Platform, PlatformVersion, KernelVersion, Arch string
	HardwareUUID, Serial, AgentVersion                                          string
	Tags                                                                        map[string]string
	EnrolledAt, UpdatedAt                                                       time.Time
}

// Delivery is one insert of an envelope by ingest; the same envelope
// delivered twice is a JetStream redelivery, which must not count twice.
type Delivery struct {
	Envelope   *evidence.Envelope
	ReceivedAt time.Time
}

// DeadLetter is a row of dead_letters, as store.InsertDeadLetters writes it.
type DeadLetter struct {
	Stream                                    string
	StreamSeq                                 uint64
	Subject, MsgID, DeviceID, Reason, Payload string
	ReceivedAt                                time.Time
}

// Exception is a version of a row of exceptions; RevokedAt is the zero
// time while it stands (stored as 1970-01-01 00:00:00, like the store).
type Exception struct {
	ID, DeviceID, Tag, CheckID, Reason, ApprovedBy string
	CreatedAt, Expires, RevokedAt                  time.Time
	RevokedBy                                      string
	Version                                        uint64
}

// Revocation is a row of revocations.
type Revocation struct {
	DeviceID, PublicKey string
	RevokedAt           time.Time
	Reason, RevokedBy   string
}

// Fleet is the seed data: what the tables hold when the dashboards run.
type Fleet struct {
	Devices     []Device
	Deliveries  []Delivery
	DeadLetters []DeadLetter
	Exceptions  []Exception
	Revocations []Revocation
}

func at(day, hour, min int) time.Time { return time.Date(2025, 3, day, hour, min, 0, 0, time.UTC) }

func pass(check string) evidence.Result {
	return evidence.Result{CheckID: check, Status: evidence.StatusPass, Rows: []map[string]string{{"compliant": "1"}}}
}

func notApplicable(check string) evidence.Result {
	return evidence.Result{CheckID: check, Status: evidence.StatusNotApplicable, Reason: "not applicable on this platform"}
}

func fail(check, reason string, rows ...map[string]string) evidence.Result {
	return evidence.Result{CheckID: check, Status: evidence.StatusFail, Reason: reason, Rows: rows}
}

// The offending rows, as the catalog's queries return them. The BitLocker
// one carries a Windows volume path: backslashes and braces inside a JSON
// value, which the dashboard's row extraction must not split on.
var (
	screenLockRows = map[string]string{"compliant": "0", "idle_delay_s": "1800", "require_password": "1"}
	bitlockerRows  = map[string]string{"compliant": "0", "conversion_status": "1", "device_id": `\\?\Volume{3f2a9c1e}\`,
		"drive_letter": "C:", "percentage_encrypted": "100", "protection_status": "0"}
	patchRows  = map[string]string{"compliant": "0", "days_since_install": "41", "last_successful_install": "2025-01-31"}
	clamavRows = map[string]string{"compliant": "0", "service": "clamav-daemon", "state": "inactive"}
)

// Seed returns the fleet the dashboard tests run against:
//
//   - dev-mac-01 (darwin): screen_lock fails on the 10th, then passes; on
//     the 13th disk_encryption runs three times within one second (pass,
//     fail, pass: the sub-second part decides the latest) and firewall
//     errors. Renamed on the 5th (two device rows).
//   - dev-win-02 (windows): disk_encryption fails from the 11th (BitLocker
//     suspended; an exception covers it), os_patch_currency from the 12th;
//     the 12th's envelope is delivered twice; a spool gap on the 11th; a
//     passing result after the range end that must not count.
//   - dev-lnx-03 (linux): malware_protection always fails (a tag exception
//     covers it), two checks are not applicable; it last reports on the
//     12th, so it has stopped reporting at To. An old key was revoked.
//
// Dead letters: a bad signature and two messages from an unknown device in
// the range, a malformed one before it. Exceptions: one per device and one
// per tag in force at To, one expired and one revoked before To.
func Seed() Fleet {
	f := Fleet{
		Devices: []Device{
			{ID: "dev-mac-01", PublicKey: "MKEY1", Hostname: "MacBook-Pro", OS: "darwin", Platform: "darwin",
				PlatformVersion: "14.3", KernelVersion: "23.3.0", Arch: "arm64", Serial: "C02MAC001", AgentVersion: "0.4.0", Tags: map[string]string{"team": "sales"},
				EnrolledAt: at(1, 8, 0), UpdatedAt: at(1, 8, 0)},
			{ID: "dev-mac-01", PublicKey: "MKEY1", Hostname: "mbp-alice", OS: "darwin", Platform: "darwin",
				PlatformVersion: "14.3", KernelVersion: "23.3.0", Arch: "arm64", Serial: "C02MAC001", AgentVersion: "0.4.0", Tags: map[string]string{"team": "sales"},
				EnrolledAt: at(1, 8, 0), UpdatedAt: at(5, 9, 0)},
			{ID: "dev-win-02", PublicKey: "WKEY1", Hostname: "lt-bob", OS: "windows", Platform: "windows",
				PlatformVersion: "10.0.22631", Arch: "amd64", Serial: "PF3WIN002", AgentVersion: "0.4.0", Tags: map[string]string{"team": "eng"},
				EnrolledAt: at(1, 8, 30), UpdatedAt: at(1, 8, 30)},
			{ID: "dev-lnx-03", PublicKey: "LKEY2", Hostname: "srv-build", OS: "linux", Platform: "debian",
				PlatformVersion: "12", KernelVersion: "6.1.0-18-amd64", Arch: "amd64",
				HardwareUUID: "4c4c4544-0042-3610-8052-b7c04f4e3032", Serial: "VMLNX003", AgentVersion: "0.4.0", Tags: map[string]string{"role": "ci"},
				EnrolledAt: at(1, 9, 0), UpdatedAt: at(2, 9, 0)},
		},
		DeadLetters: []DeadLetter{
			{Stream: "EVIDENCE", StreamSeq: 87, Subject: "evidence.v1.dev-win-02.results", MsgID: "dev-win-02-9",
				DeviceID: "dev-win-02", Reason: "bad_signature: signature does not verify with the enrolled key",
				Payload: `{"schema":1}`, ReceivedAt: at(11, 10, 2)},
			{Stream: "EVIDENCE", StreamSeq: 90, Subject: "evidence.v1.dev-old-99.results", MsgID: "dev-old-99-4",
				DeviceID: "dev-old-99", Reason: "unknown_device: dev-old-99", Payload: `{"schema":1}`, ReceivedAt: at(12, 7, 15)},
			{Stream: "EVIDENCE", StreamSeq: 91, Subject: "evidence.v1.dev-old-99.results", MsgID: "dev-old-99-5",
				DeviceID: "dev-old-99", Reason: "unknown_device: dev-old-99", Payload: `{"schema":1}`, ReceivedAt: at(12, 8, 15)},
			// Before the range: not counted.
			{Stream: "EVIDENCE", StreamSeq: 12, Subject: "evidence.v1.dev-mac-01.results", MsgID: "dev-mac-01-1",
				DeviceID: "dev-mac-01", Reason: "malformed: unexpected end of JSON input", Payload: `{"sch`, ReceivedAt: at(5, 9, 0)},
		},
		Exceptions: []Exception{
			{ID: "exc-0001", DeviceID: "dev-win-02", CheckID: "disk_encryption", Reason: "BitLocker suspended for a firmware update",
				ApprovedBy: "ciso@example.com", CreatedAt: at(11, 12, 0), Expires: at(31, 0, 0), Version: 1},
			{ID: "exc-0002", Tag: "role=ci", CheckID: "malware_protection", Reason: "CI runners are rebuilt daily",
				ApprovedBy: "ciso@example.com", CreatedAt: at(1, 12, 0), Expires: time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC), Version: 1},
			// Expired before To: does not cover os_patch_currency at To.
			{ID: "exc-0003", DeviceID: "dev-win-02", CheckID: "os_patch_currency", Reason: "update ring pilot",
				ApprovedBy: "it@example.com", CreatedAt: at(1, 12, 0), Expires: at(12, 0, 0), Version: 1},
			// Granted, then revoked before To (two versions of one row).
			{ID: "exc-0004", DeviceID: "dev-mac-01", CheckID: "firewall", Reason: "testing a VPN client",
				ApprovedBy: "it@example.com", CreatedAt: at(2, 12, 0), Expires: at(30, 0, 0), Version: 1},
			{ID: "exc-0004", DeviceID: "dev-mac-01", CheckID: "firewall", Reason: "testing a VPN client",
				ApprovedBy: "it@example.com", CreatedAt: at(2, 12, 0), Expires: at(30, 0, 0),
				RevokedAt: at(9, 12, 0), RevokedBy: "ciso@example.com", Version: 2},
		},
		// The linux server was reinstalled: its first key is revoked, the
		// current one is not, so it must still show as stopped reporting.
		Revocations: []Revocation{{DeviceID: "dev-lnx-03", PublicKey: "LKEY1", RevokedAt: at(2, 8, 0),
			Reason: "reinstalled", RevokedBy: "admin@example.com"}},
	}

	seq := map[string]uint64{}
	send := func(dev string, obs time.Time, hb bool, results ...evidence.Result) *evidence.Envelope {
		seq[dev]++
		e := &evidence.Envelope{Schema: 1, DeviceID: dev, AgentVersion: "0.4.0", Seq: seq[dev], SentAt: obs.Add(time.Second)}
		for _, r := range results {
			r.CheckVersion, r.Pack, r.PackVersion, r.DurationMS, r.Engine = 1, "fleetproof-core", "1.0.0", 40, "osquery"
			if r.ObservedAt.IsZero() {
				r.ObservedAt = obs
			}
			e.Results = append(e.Results, r)
		}
		if hb {
			e.Heartbeat = &evidence.Heartbeat{ObservedAt: obs, Hostname: hostname(dev), UptimeS: 3600, SpoolDepth: 0}
		}
		f.Deliveries = append(f.Deliveries, Delivery{Envelope: e, ReceivedAt: obs.Add(time.Minute)})
		return e
	}

	for day := 10; day <= 13; day++ {
		// dev-mac-01 at 10:00.
		obs := at(day, 10, 0)
		mac := []evidence.Result{pass("disk_encryption"), pass("firewall"), pass("malware_protection"),
			pass("os_patch_currency"), pass("screen_lock")}
		switch day {
		case 10:
			mac[4] = fail("screen_lock", "1 of 1 rows not compliant", screenLockRows)
		case 13:
			fv := fail("disk_encryption", "1 of 1 rows not compliant",
				map[string]string{"compliant": "0", "filevault_states": "encrypting", "unlock_users": "1"})
			fv.ObservedAt = obs.Add(100 * time.Millisecond)
			recheck := pass("disk_encryption")
			recheck.ObservedAt = obs.Add(900 * time.Millisecond)
			mac = append(mac, fv, recheck)
			mac[1] = evidence.Result{CheckID: "firewall", Status: evidence.StatusError, Error: "osquery: query timed out after 30s"}
		}
		send("dev-mac-01", obs, true, mac...)

		// dev-win-02 at 10:00.
		win := []evidence.Result{pass("disk_encryption"), pass("firewall"), pass("malware_protection"),
			pass("os_patch_currency"), pass("screen_lock")}
		if day >= 11 {
			win[0] = fail("disk_encryption", "1 of 1 rows not compliant", bitlockerRows)
		}
		if day >= 12 {
			win[3] = fail("os_patch_currency", "1 of 1 rows not compliant", patchRows)
		}
		e := send("dev-win-02", obs, true, win...)
		switch day {
		case 11:
			e.Gaps = []evidence.Gap{{From: at(11, 2, 0), To: at(11, 6, 0), Dropped: 42, Reason: "spool full"}}
		case 12:
			// Redelivered after a lost ack: same envelope, later receipt.
			f.Deliveries = append(f.Deliveries, Delivery{Envelope: e, ReceivedAt: obs.Add(6 * time.Minute)})
		}

		// dev-lnx-03 at 09:00, until the 12th.
		if day <= 12 {
			send("dev-lnx-03", at(day, 9, 0), true, pass("disk_encryption"), pass("firewall"),
				fail("malware_protection", "1 of 1 rows not compliant", clamavRows),
				notApplicable("os_patch_currency"), notApplicable("screen_lock"))
		}
	}
	// Heartbeat-only envelopes: the last ones before To, and some after it.
	send("dev-mac-01", at(13, 11, 30), true)
	send("dev-win-02", at(13, 11, 45), true)
	send("dev-lnx-03", at(12, 18, 0), true)
	send("dev-lnx-03", at(13, 14, 0), true)
	send("dev-win-02", at(13, 13, 0), true, pass("disk_encryption"))
	return f
}

func hostname(dev string) string {
	return map[string]string{"dev-mac-01": "mbp-alice", "dev-win-02": "lt-bob", "dev-lnx-03": "srv-build"}[dev]
}
