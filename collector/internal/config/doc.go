// Package config holds the collector's configuration: one struct with
// defaults, merged from a YAML file, FLEETPROOF_COLLECTOR_* environment
// variables and flags (later wins), validated once with messages that name
// the key and where its value came from.
package config
