// Package render writes the collector's reports in the three formats every
// reporting command offers (an aligned table for people, JSON for tools,
// CSV for spreadsheets), and keeps device-supplied text from breaking them.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Formats every report accepts.
var Formats = []string{"table", "json", "csv"}

// Valid reports whether format is one of Formats.
func Valid(format string) bool {
	for _, f := range Formats {
		if f == format {
			return true
		}
	}
	return false
}

// Write renders v in format: table and csv through the given writers, json
// by encoding v. what names the report in the error for an unknown format.
func Write(w io.Writer, format, what string, v any, table, csv func(io.Writer) error) error {
	switch format {
	case "table", "":
		return table(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "csv":
		return csv(w)
	}
	return fmt.Errorf("%s: unknown format %q (want %s)", what, format, strings.Join(Formats, ", "))
}

// Cell keeps agent- or file-supplied text (hostnames, osquery error
// messages) in one table cell: a tab or newline would shift or break the
// columns.
func Cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// Dash is Cell, with "-" for an empty value so columns stay readable.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return Cell(s)
}

// Truncate shortens s to at most n characters. It counts runes, as
// tabwriter does, and never cuts a multi-byte character in half.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
