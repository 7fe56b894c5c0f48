package spool

import (
	"fmt"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

// Outage shape: 20 checks, hourly, for a week.
const (
	outageChecks = 20
	outageHours  = 24 * 7
	outageSize   = outageChecks * outageHours // 3,360 results
)

// outageRows are rows shaped like what the catalog's Linux checks return
// (disk_encryption, os_auto_updates, os_patch_currency, screen_lock, ...),
// so results have realistic encoded sizes (a few hundred bytes to ~1 KB).
var outageRows = [][]map[string]string{
	{{"path": "/", "device": "/dev/mapper/vgubuntu-root", "encrypted": "1", "type": "LUKS2-aes-xts-plain64", "compliant": "1"}},
	{{"manager": "apt", "automatic": "1", "unattended_upgrades": "1", "security_only": "1", "source": "/etc/apt/apt.conf.d/20auto-upgrades", "compliant": "1"}},
	{{"name": "linux-image-6.8.0-49-generic", "version": "6.8.0-49.49", "installed_days": "12", "compliant": "1"}, {"name": "openssl", "version": "3.0.13-0ubuntu3.4", "installed_days": "3", "compliant": "1"}},
	{{"desktop": "gnome", "lock_enabled": "1", "idle_delay_s": "300", "lock_delay_s": "0", "source": "/etc/dconf/db/local.d/00-screensaver", "compliant": "0"}},
	{{"name": "clamd", "pid": "1432", "path": "/usr/sbin/clamd", "state": "S", "compliant": "1"}, {"name": "freshclam", "pid": "1433", "path": "/usr/bin/freshclam", "state": "S", "compliant": "1"}},
	{{"platform": "ubuntu", "version": "24.04.1 LTS (Noble Numbat)", "major": "24", "minor": "4", "kernel": "6.8.0-49-generic", "compliant": "1"}},
}

// outageResult is check c's result for hour h of the outage.
func outageResult(c, h int, start time.Time) evidence.Result {
	rows := outageRows[c%len(outageRows)]
	st, reason := evidence.StatusPass, fmt.Sprintf("%d of %d rows compliant", len(rows), len(rows))
	if rows[0]["compliant"] == "0" {
		st, reason = evidence.StatusFail, fmt.Sprintf("1 of %d rows not compliant", len(rows))
	}
	return evidence.Result{
		CheckID: fmt.Sprintf("linux_check_%02d", c), CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.2.0",
		ObservedAt: start.Add(time.Duration(h)*time.Hour + time.Duration(c)*time.Second),
		Status:     st, Reason: reason, Rows: rows, DurationMS: int64(3 + c%7), Engine: "builtin",
	}
}

// appendOutage spools a week of results the way the scheduler does while
// the collector is unreachable: one Append per hourly tick.
func appendOutage(b *testing.B, sp *Spool, end time.Time) {
	start := end.Add(-outageHours * time.Hour)
	tick := make([]evidence.Result, outageChecks)
	for h := range outageHours {
		for c := range outageChecks {
			tick[c] = outageResult(c, h, start)
		}
		if err := sp.Append(tick...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBacklogDrain measures how fast an agent empties the spool after
// a 7-day outage (20 checks × 24 × 7 = 3,360 results) once the collector is
// back: Next/Seal with the publisher's default envelope bounds, then Ack,
// until the spool is empty. Publishing is not included; this is the
// spool's own cost per delivered result (two fsynced transactions per
// envelope). Building the backlog is not timed.
func BenchmarkBacklogDrain(b *testing.B) {
	f := open(b, Options{})
	var envelopes, bodyBytes int
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		appendOutage(b, f.sp, t0)
		if st := f.sp.Stats(); st.Pending != outageSize || st.Dropped != 0 {
			b.Fatalf("backlog holds %d results (%d dropped), want %d", st.Pending, st.Dropped, outageSize)
		}
		b.StartTimer()
		delivered := 0
		for {
			batch, ok, err := f.sp.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				batch, ok, err = f.sp.Seal(tmpl, DefaultSealResults, DefaultEnvelopeBytes)
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					break
				}
			}
			if err := f.sp.Ack(batch.Seq); err != nil {
				b.Fatal(err)
			}
			delivered += batch.Results
			envelopes++
			bodyBytes += len(batch.Body)
		}
		b.StopTimer()
		if delivered != outageSize {
			b.Fatalf("drained %d results, want %d", delivered, outageSize)
		}
		if st := f.sp.Stats(); st.Pending != 0 || st.Sealed != 0 {
			b.Fatalf("spool not empty after drain: %+v", st)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*outageSize)/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(envelopes)/float64(b.N), "envelopes/drain")
	b.ReportMetric(float64(bodyBytes)/float64(b.N)/1024, "KiB/drain")
}
