// Package mdm reads the agent settings an IT admin pushes through device
// management, so a fleet can be configured without touching each machine:
//
//   - macOS: the managed preferences a configuration profile installs for
//     the com.fleetproof.agent domain, machine scope only
//     (/Library/Managed Preferences/com.fleetproof.agent.plist, XML or
//     binary plist). Per-user managed preferences are ignored on purpose:
//     the agent is a system service and must not change with who logs in.
//   - Windows: the policy registry key HKLM\SOFTWARE\Policies\Fleetproof\Agent
//     (Group Policy, Intune ADMX ingestion, MSI properties written there).
//   - Linux and other Unix: /etc/fleetproof/managed.yaml (or managed.json),
//     the file configuration tools such as ansible, puppet or Intune for
//     Linux drop.
//
// Every source yields the same thing: agent configuration keys mapped to
// string values, ready for settings.Map. Value names are matched to keys
// ignoring case, underscores, dashes and spaces, so the spelling an admin
// sees in an MDM console works: ServerURL, server_url and Server-URL all
// mean server_url; EnrollSecret, EnrollSecretFile, StateDir, Tags and
// LogLevel likewise. Names that match no key are passed through unchanged,
// so settings.Map rejects them with the source named instead of the agent
// silently ignoring a misspelt policy.
//
// The parsers (ParsePlist, FromRegistryValues, ParseManaged) are pure and
// tested on any OS with fixtures; only the small readers behind build tags
// touch the real machine. Read picks the reader for the running OS.
package mdm
