// Package inventory imports asset inventories (CSV exports from an MDM
// such as Jamf, Intune or Kandji, a CMDB, or a spreadsheet) as dated
// snapshots, and reconciles a snapshot with the enrolled devices, so an
// auditor sees the whole in-scope population: devices matched to their
// inventory row, inventory devices that never enrolled (missing), and
// enrolled devices the inventory does not know (unknown). Gaps are listed,
// never dropped.
//
// Parsing (Parse, ParseMapping) and Reconcile are pure; Import and
// ReconcileAt read and write through the store.
//
// Matching rules, strongest first, each one-to-one except that several
// enrolled devices with the same serial (a re-enrolled machine) all match
// their row:
//   - serial: equal after trimming and ignoring case; placeholder serials
//     such as "To Be Filled By O.E.M." or "0" never match;
//   - hardware_uuid: the row's hardware UUID column, or its serial (CMDBs
//     often record a VM's UUID as its serial), equals the device's
//     hardware UUID;
//   - hostname: the first DNS label, ignoring case, when exactly one
//     unmatched row and one unmatched device carry it and their serials or
//     UUIDs do not contradict each other. Such a match is flagged weak: a
//     hostname is reused, a serial is not.
//
// Out-of-scope rows are matched too, so a device reporting for an
// out-of-scope row is listed with it rather than as unknown.
package inventory
