// Package cli is the fleetproof-collector command line: it parses
// subcommands and flags and calls the package that does the work.
package cli
