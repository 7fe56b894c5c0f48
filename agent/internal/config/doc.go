// Package config holds the agent's configuration: one struct with
// defaults, merged from a YAML file, FLEETPROOF_* environment variables and
// flags (later wins), validated once with messages naming the key and its
// source. MDM-managed settings (macOS profiles, Windows policy registry)
// slot in below the file as another layer.
package config
