package extract

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// bom starts every CSV: without it Excel reads UTF-8 as the machine's
// legacy code page and "Zoë" arrives as "ZoÃ«". LibreOffice and
// encoding/csv-style readers that strip it are unaffected.
const bom = "\uFEFF"

// table writes one data set to its CSV file and to its worksheet at once,
// so the two can never disagree and the data is read from ClickHouse once.
type table struct {
	name     string
	path     string
	file     *os.File
	buf      *bufio.Writer
	csv      *csv.Writer
	sheet    *sheet
	rows     int
	progress *progress
	closed   bool
}

func (w *writer) newTable(name string, header []string) (*table, error) {
	return w.newTableIn(name, header, true)
}

// newTableIn is newTable for a table that may be left out of the
// workbook (inBook false): it is then the CSV file alone.
func (w *writer) newTableIn(name string, header []string, inBook bool) (*table, error) {
	path := filepath.Join(w.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	t := &table{name: name, path: path, file: f, buf: bufio.NewWriterSize(f, 1<<20), progress: w.progress}
	w.tables = append(w.tables, t)
	t.csv = csv.NewWriter(t.buf)
	// RFC 4180 line ends; Excel and LibreOffice accept both, and a quoted
	// field's own line breaks come back as they went in.
	t.csv.UseCRLF = true
	if _, err := io.WriteString(t.buf, bom); err != nil {
		f.Close()
		return nil, fmt.Errorf("extract: %s: %w", name, err)
	}
	if inBook {
		if t.sheet, err = w.book.newSheet(strings.TrimSuffix(name, ".csv"), header); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := t.csv.Write(header); err != nil {
		f.Close()
		return nil, fmt.Errorf("extract: %s: %w", name, err)
	}
	return t, nil
}

// add writes one row. Values are verbatim in the workbook (every cell is
// text there), and in the CSV except for formula neutralising.
func (t *table) add(values ...string) error {
	rec := make([]string, len(values))
	for i, v := range values {
		rec[i] = csvCell(v)
	}
	if err := t.csv.Write(rec); err != nil {
		return fmt.Errorf("extract: %s: %w", t.name, err)
	}
	if t.sheet != nil {
		if err := t.sheet.add(values); err != nil {
			return err
		}
	}
	t.rows++
	t.progress.row(t.name, t.rows)
	return nil
}

// close finishes the file and the sheet.
func (t *table) close() error {
	t.closed = true
	t.csv.Flush()
	err := t.csv.Error()
	if err == nil {
		err = t.buf.Flush()
	}
	if err == nil {
		err = t.file.Sync()
	}
	if cerr := t.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract: %s: %w", t.name, err)
	}
	if t.sheet != nil {
		if err := t.sheet.close(); err != nil {
			return err
		}
	}
	t.progress.done(t.name, t.rows)
	return nil
}

// abort releases the file of a table an error left open; the staging
// directory it is in is removed anyway.
func (t *table) abort() {
	if !t.closed {
		t.closed = true
		t.file.Close()
	}
}

// csvCell keeps a spreadsheet from running device-supplied text as a
// formula (CSV injection: a hostname such as =HYPERLINK(...)). A cell that
// starts with = + - @ or a tab or carriage return gets a leading
// apostrophe, which Excel and LibreOffice show as text; the README says so
// and evidence.xlsx holds the value unchanged.
func csvCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// progress reports rows written per file on stderr, so an extract of a
// large fleet over a long period visibly advances.
type progress struct {
	w     io.Writer
	every int
}

func (p *progress) row(name string, n int) {
	if p != nil && p.w != nil && p.every > 0 && n%p.every == 0 {
		fmt.Fprintf(p.w, "extract: %s: %d rows so far\n", name, n)
	}
}

func (p *progress) done(name string, n int) {
	if p != nil && p.w != nil {
		fmt.Fprintf(p.w, "extract: %s: %d rows\n", name, n)
	}
}
