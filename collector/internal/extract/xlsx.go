package extract

import (
	"archive/zip"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Excel's hard limits. Rows beyond a sheet's capacity continue on a sheet
// named "evidence (2)" and so on; a longer cell is cut with a note (the
// CSV keeps it whole). Variables so tests can reach them with little data.
var (
	maxSheetRows = excelize.TotalRows // header included
	maxCellChars = excelize.TotalCellChars
)

const truncatedNote = " … [cut at Excel's 32,767-character cell limit; the CSV file has the whole value]"

// workbook is evidence.xlsx: one sheet per CSV, written with excelize's
// stream writer so memory stays flat however many rows there are.
type workbook struct {
	f         *excelize.File
	tmp       string
	sheets    int
	header    int // style id of header cells
	Truncated int // cells cut at maxCellChars
}

func newWorkbook(tmp string) (*workbook, error) {
	f := excelize.NewFile(excelize.Options{TmpDir: tmp})
	style, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, fmt.Errorf("extract: workbook: %w", err)
	}
	return &workbook{f: f, tmp: tmp, header: style}, nil
}

// sheet is the worksheet(s) of one table.
type sheet struct {
	book   *workbook
	base   string
	header []string
	part   int
	sw     *excelize.StreamWriter
	row    int // last row written on the current part
}

func (b *workbook) newSheet(name string, header []string) (*sheet, error) {
	s := &sheet{book: b, base: name, header: header}
	return s, s.next()
}

// next starts the table's next worksheet (the first, or a continuation).
func (s *sheet) next() error {
	if s.sw != nil {
		if err := s.sw.Flush(); err != nil {
			return fmt.Errorf("extract: workbook: %s: %w", s.base, err)
		}
	}
	s.part++
	name := s.base
	if s.part > 1 {
		name = fmt.Sprintf("%s (%d)", s.base, s.part)
	}
	b := s.book
	var err error
	if b.sheets == 0 {
		err = b.f.SetSheetName(b.f.GetSheetName(0), name)
	} else {
		_, err = b.f.NewSheet(name)
	}
	if err != nil {
		return fmt.Errorf("extract: workbook: sheet %s: %w", name, err)
	}
	b.sheets++
	if s.sw, err = b.f.NewStreamWriter(name); err != nil {
		return fmt.Errorf("extract: workbook: sheet %s: %w", name, err)
	}
	// Column widths and the frozen header must precede the first row.
	err = errors.Join(
		s.sw.SetColWidth(1, len(s.header), 20),
		s.sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}))
	if err != nil {
		return fmt.Errorf("extract: workbook: sheet %s: %w", name, err)
	}
	cells := make([]any, len(s.header))
	for i, h := range s.header {
		cells[i] = excelize.Cell{StyleID: b.header, Value: h}
	}
	s.row = 1
	if err := s.sw.SetRow("A1", cells); err != nil {
		return fmt.Errorf("extract: workbook: sheet %s: %w", name, err)
	}
	return nil
}

func (s *sheet) add(values []string) error {
	if s.row >= maxSheetRows {
		if err := s.next(); err != nil {
			return err
		}
	}
	s.row++
	cells := make([]any, len(values))
	for i, v := range values {
		cells[i] = s.book.cell(v)
	}
	cell, _ := excelize.CoordinatesToCellName(1, s.row)
	if err := s.sw.SetRow(cell, cells); err != nil {
		return fmt.Errorf("extract: workbook: %s: %w", s.base, err)
	}
	return nil
}

// cell is v as a text cell, cut with a note when Excel cannot hold it.
// Every value is a string, so nothing is ever read as a formula.
func (b *workbook) cell(v string) any {
	if len(v) <= maxCellChars || utf16Len(v) <= maxCellChars { // a byte is at most one UTF-16 unit
		return v
	}
	b.Truncated++
	room := maxCellChars - utf16Len(truncatedNote)
	n, i := 0, 0
	for i < len(v) {
		r, size := utf8.DecodeRuneInString(v[i:])
		if n+u16(r) > room {
			break
		}
		n += u16(r)
		i += size
	}
	return v[:i] + truncatedNote
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += u16(r)
	}
	return n
}

// u16 is how many UTF-16 units r takes, the unit Excel counts in; an
// invalid rune becomes one U+FFFD.
func u16(r rune) int { return max(utf16.RuneLen(r), 1) }

func (s *sheet) close() error {
	if err := s.sw.Flush(); err != nil {
		return fmt.Errorf("extract: workbook: %s: %w", s.base, err)
	}
	return nil
}

// save writes the workbook to path with fixed document times, so that
// the same data gives the same bytes.
func (b *workbook) save(path string, at time.Time) error {
	stamp := at.UTC().Format(time.RFC3339)
	err := b.f.SetDocProps(&excelize.DocProperties{Created: stamp, Modified: stamp, Creator: "fleetproof-collector",
		LastModifiedBy: "fleetproof-collector", Title: "Fleetproof evidence extract"})
	if err != nil {
		return fmt.Errorf("extract: workbook: %w", err)
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	zw := &sortedZip{out: out, tmp: b.tmp}
	b.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zw })
	// The buffer WriteToBuffer returns stays empty: sortedZip writes the
	// file itself, so a large workbook is never held in memory.
	_, err = b.f.WriteToBuffer()
	err = errors.Join(err, zw.err, out.Sync(), out.Close())
	if err != nil {
		return fmt.Errorf("extract: workbook: %w", err)
	}
	return nil
}

func (b *workbook) close() error { return b.f.Close() }

// sortedZip is the zip writer excelize saves through. excelize adds the
// parts of stream-written sheets in map order, which differs from run to
// run; this writer spools each part to a temporary file and writes them
// sorted by name, with zero modification times, on Close.
type sortedZip struct {
	out   io.Writer
	tmp   string
	parts map[string]*os.File
	err   error
}

func (z *sortedZip) Create(name string) (io.Writer, error) {
	if z.parts == nil {
		z.parts = map[string]*os.File{}
	}
	if _, dup := z.parts[name]; dup {
		return nil, fmt.Errorf("zip: duplicate part %s", name)
	}
	f, err := os.CreateTemp(z.tmp, "xlsx-part-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // unlinked: the open handle is all that is needed
	z.parts[name] = f
	return f, nil
}

func (z *sortedZip) AddFS(fs.FS) error { return errors.New("zip: AddFS not supported") }

func (z *sortedZip) Close() error {
	defer func() {
		for _, f := range z.parts {
			f.Close()
		}
	}()
	zw := zip.NewWriter(z.out)
	// Deflating the worksheets was a third of a large extract's CPU at
	// the default level; the fastest level costs a few percent in size.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	names := make([]string, 0, len(z.parts))
	for n := range z.parts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f := z.parts[n]
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			z.err = err
			return err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err == nil {
			_, err = io.Copy(w, f)
		}
		if err != nil {
			z.err = err
			return err
		}
	}
	z.err = zw.Close()
	return z.err
}
