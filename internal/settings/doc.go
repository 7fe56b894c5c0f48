// Package settings merges a program's configuration from its sources in
// one fixed order, lowest first: built-in defaults, a YAML file, the
// environment, then flags. It records where every value came from, so
// validation errors and `config show` can name the source. The agent and
// the collector each declare their keys as a list of Fields.
package settings
