// Package cli is the fleetproof-agent command line: it parses subcommands
// and flags and calls the package that does the work.
package cli
