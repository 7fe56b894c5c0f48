// Package compliance answers the SOC 2 Type II question "did the control
// operate over the period, for the whole population?": per device and for
// the fleet, for one check or for a control (every check whose criteria
// name it), over whole UTC days, plus the devices that stopped reporting.
//
// # Definition
//
// The unit is the device-day, read from the daily rollup (store
// results_daily), so a year over ten thousand devices costs one row per
// device-day rather than one per observation. Per check, a day is
//
//   - compliant: the day's last result passed and none failed;
//   - failing: any result failed (a failure fixed the same day still
//     counts: the control did not hold all day);
//   - error: the day ended in error and none failed (the check could not
//     tell, which proves nothing);
//   - not applicable: the day ended not_applicable and none failed;
//   - no evidence: no result that day (a gap, never compliant);
//   - excepted: approved exceptions (store.Exception) cover the whole
//     day; an exception granted or expiring mid-day leaves that day to its
//     results, so a failure before approval stays a failure.
//
// A control combines its checks that apply to the device's OS by taking
// the worst day: failing, error, no evidence, excepted, compliant, not
// applicable.
//
// Share is compliant days / (compliant + failing + error days): how often
// the control held when there was evidence to judge. Days without
// evidence, excepted and not-applicable days are counted beside it, never
// inside it, and they decide the device's status: compliant means every
// in-scope day was compliant, with no gap and no exception; excepted means
// no bad day but some covered only by exception; partial, never, no
// evidence and not applicable cover the rest (see the Status constants).
// Days-compliant over days-observed was chosen over a time-weighted share
// because it needs nothing the rollup cannot say exactly (how long a
// status held between two observations is a guess, especially across
// gaps), and because it is easy for an auditor to recompute from the
// evidence rows.
//
// A device is in scope from the day it enrolled (or its first evidence if
// earlier, so no evidence is ever dropped) to the day it was revoked.
//
// First failure is the first failing result of the period (a fact, shown
// even on excepted days); remediation is the first passing result of the
// same check after it. Both are exact to the nanosecond: the rollup keeps
// each day's first failure, first and last pass, and the set of its pass
// times, which settles the one ambiguous case (passes on both sides of
// the failure on its day).
//
// # Stale devices
//
// A device is stale as of an instant when neither a heartbeat nor a result
// arrived within the window (default: three runs of the most frequent
// check), when it sends heartbeats but no results (the agent runs, the
// checks do not), or when it enrolled and never reported. Spool gaps the
// agents reported are listed beside them.
//
// Build and Stale are pure functions of their input; Compute and
// FindStale fetch that input from a Source (the store), so API handlers
// call them directly.
package compliance
