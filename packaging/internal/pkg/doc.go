// Package pkg builds the Linux packages of the agent and the collector (deb,
// rpm and apk) with nFPM used as a library, from binaries built elsewhere
// ("make package" cross-compiles them) and the files embedded by the
// packaging package.
//
// Each package installs its binary in /usr/bin, a systemd unit, an example
// configuration file as a conffile (config|noreplace: upgrades never touch
// an edited copy, and never prompt while the example is unedited), and
// maintainer scripts assembled from one prelude plus a body per script. The
// prelude turns deb's, rpm's and apk's different script arguments into one
// phase (install, upgrade, remove, purge), because the classic packaging bug
// is an rpm %postun that deletes state on upgrade: rpm runs the old
// version's removal scripts after installing the new one.
//
// State directories (/var/lib/fleetproof, /var/lib/fleetproof-collector)
// are created by the scripts, not shipped, so no package manager deletes
// them in passing: the agent's goes on deb purge and rpm erase, the
// collector's evidence store never goes with the package.
package pkg
