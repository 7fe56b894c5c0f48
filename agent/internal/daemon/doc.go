// Package daemon is the running agent: it loads the device identity,
// enrolls, runs the catalog's checks on their schedule (with jitter, so a
// fleet does not query in lock step), writes every result to the spool
// before any network I/O, and lets the publisher deliver them. With Once
// it runs every check a single time and returns when the spool is empty.
package daemon
