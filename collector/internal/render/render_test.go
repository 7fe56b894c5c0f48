package render_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/collector/internal/render"
)

func TestCellKeepsTextOnOneLine(t *testing.T) {
	cases := map[string]string{"a\tb": "a b", "line1\nline2\r": "line1 line2 ", "Zoë's MacBook": "Zoë's MacBook"}
	for in, want := range cases {
		if got := render.Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
	if render.Dash("") != "-" || render.Dash("x\ty") != "x y" {
		t.Error("Dash")
	}
}

func TestTruncateCountsCharactersNotBytes(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"ééééééééééé", 5, "éééé…"},
	}
	for _, c := range cases {
		if got := render.Truncate(c.in, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestWriteDispatchesOnFormat(t *testing.T) {
	table := func(w io.Writer) error { _, err := io.WriteString(w, "T"); return err }
	csv := func(w io.Writer) error { _, err := io.WriteString(w, "C"); return err }
	for format, want := range map[string]string{"": "T", "table": "T", "csv": "C", "json": "{\n  \"a\": 1\n}\n"} {
		var b bytes.Buffer
		if err := render.Write(&b, format, "x", map[string]int{"a": 1}, table, csv); err != nil || b.String() != want {
			t.Errorf("format %q: %q, %v", format, b.String(), err)
		}
	}
	err := render.Write(io.Discard, "xml", "posture", nil, table, csv)
	if err == nil || !strings.Contains(err.Error(), "posture: unknown format \"xml\"") {
		t.Errorf("unknown format: %v", err)
	}
	if !render.Valid("csv") || render.Valid("xml") {
		t.Error("Valid")
	}
}
