package inventory

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fleetproof/fleetproof/collector/internal/store"
)

// Item is one device row of an inventory.
type Item = store.InventoryItem

// Parsed is an export read through a mapping.
type Parsed struct {
	Items []Item `json:"items"`
	// SkippedLines are the data rows left out because their serial is
	// empty: without a serial a row cannot be told apart from the next
	// one, so it is reported rather than guessed at. Blank rows (every
	// cell empty) are not data and are not counted.
	SkippedLines []int `json:"skipped_lines,omitempty"`
	// Delimiter is the field separator found in the header line.
	Delimiter string `json:"delimiter"`
	// Columns maps each field read to the header it was read from; a field
	// with no column is absent (with no in-scope column every row is in
	// scope).
	Columns map[string]string `json:"columns"`
}

// InScope counts the in-scope items.
func (p Parsed) InScope() int {
	n := 0
	for _, it := range p.Items {
		if it.InScope {
			n++
		}
	}
	return n
}

// maxProblems bounds the problems listed for a broken file: past a few,
// the file is the wrong file or has the wrong separator.
const maxProblems = 20

// Parse reads a CSV export. It accepts a UTF-8 byte order mark (Excel and
// Intune write one), UTF-16 with a byte order mark (Excel's "Unicode
// text"), Excel's "sep=;" first line, comma, semicolon or tab separators
// (the most frequent one in the header line wins), quoted fields with
// embedded separators and newlines, and CRLF line ends. Header names
// match ignoring case. Duplicate serials are an error naming the lines,
// since reconciling against an ambiguous inventory would hide a device.
func Parse(data []byte, m Mapping) (Parsed, error) {
	text, err := decodeText(data)
	if err != nil {
		return Parsed{}, err
	}
	lineOffset := 0
	delim := rune(0)
	// Excel writes and honours a first line "sep=;" naming the separator.
	first, rest, _ := strings.Cut(text, "\n")
	if f := strings.TrimSuffix(first, "\r"); len(f) > 4 && strings.EqualFold(f[:4], "sep=") && utf8.RuneCountInString(f[4:]) == 1 {
		delim, _ = utf8.DecodeRuneInString(f[4:])
		text, lineOffset = rest, 1
	}
	if delim == 0 {
		delim = detectDelimiter(text)
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = delim
	r.FieldsPerRecord = -1 // checked here, to say which line and how many
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return Parsed{}, errors.New("inventory: the file is empty")
	}
	if err != nil {
		return Parsed{}, fmt.Errorf("inventory: header: %w", shiftLine(err, lineOffset))
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	cols, names, err := m.resolve(header)
	if err != nil {
		return Parsed{}, fmt.Errorf("inventory: %w", err)
	}
	inScopeValues := m.InScopeValues
	if len(inScopeValues) == 0 {
		inScopeValues = DefaultInScopeValues
	}
	inScope := map[string]bool{}
	for _, v := range inScopeValues {
		inScope[strings.ToLower(strings.TrimSpace(v))] = true
	}
	keys := rawKeys(header)

	out := Parsed{Delimiter: string(delim), Columns: names}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	serialLines := map[string][]int{}
	for len(problems) < maxProblems {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The reader resumes at the next line; an unterminated quote
			// has consumed the rest of the file, so the next read ends it.
			bad("%v", shiftLine(err, lineOffset))
			continue
		}
		line, _ := r.FieldPos(0)
		line += lineOffset
		if len(rec) != len(header) {
			bad("line %d: %d fields, the header has %d (a stray separator or quote?)", line, len(rec), len(header))
			continue
		}
		blank := true
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
			blank = blank && rec[i] == ""
		}
		if blank {
			continue
		}
		get := func(field string) string {
			if i, ok := cols[field]; ok {
				return rec[i]
			}
			return ""
		}
		it := Item{Line: line, Serial: get(FieldSerial), HardwareUUID: get(FieldHardwareUUID), Hostname: get(FieldHostname),
			Owner: get(FieldOwner), Platform: get(FieldPlatform), InScope: true, Raw: rawJSON(keys, rec)}
		if _, ok := cols[FieldInScope]; ok {
			it.InScope = inScope[strings.ToLower(get(FieldInScope))]
		}
		if it.Serial == "" {
			out.SkippedLines = append(out.SkippedLines, line)
			continue
		}
		k := serialKey(it.Serial)
		serialLines[k] = append(serialLines[k], line)
		out.Items = append(out.Items, it)
	}
	var dups []string
	for _, it := range out.Items {
		if lines := serialLines[serialKey(it.Serial)]; len(lines) > 1 && lines[0] == it.Line {
			hint := ""
			if IsPlaceholderSerial(it.Serial) {
				hint = " (a firmware placeholder, not a serial: fill in the real ones or leave the cell empty)"
			}
			dups = append(dups, fmt.Sprintf("duplicate serial %q on lines %s%s", it.Serial, joinInts(lines), hint))
		}
	}
	problems = append(problems, dups...)
	if len(problems) > 0 {
		more := ""
		if len(problems) >= maxProblems {
			more = "\n  (stopped after " + fmt.Sprint(maxProblems) + " problems)"
		}
		return Parsed{}, fmt.Errorf("inventory: %d problem(s) in the file:\n  %s%s", len(problems), strings.Join(problems, "\n  "), more)
	}
	if len(out.Items) == 0 {
		return Parsed{}, fmt.Errorf("inventory: no rows with a serial (%d skipped without one); is this the right export?", len(out.SkippedLines))
	}
	return out, nil
}

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// decodeText returns the file as UTF-8 without a byte order mark. Text in
// another 8-bit encoding (Windows-1252 from an old Excel) is refused, not
// guessed: a mangled serial would never match.
func decodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, bomUTF8):
		data = data[len(bomUTF8):]
	case bytes.HasPrefix(data, bomUTF16LE), bytes.HasPrefix(data, bomUTF16BE):
		if len(data)%2 != 0 {
			return "", errors.New("inventory: UTF-16 file with an odd number of bytes")
		}
		u := make([]uint16, 0, len(data)/2-1)
		for i := 2; i < len(data); i += 2 {
			if data[0] == 0xFF {
				u = append(u, uint16(data[i])|uint16(data[i+1])<<8)
			} else {
				u = append(u, uint16(data[i])<<8|uint16(data[i+1]))
			}
		}
		return string(utf16.Decode(u)), nil
	}
	if !utf8.Valid(data) {
		bad := 0
		for bad < len(data) {
			r, size := utf8.DecodeRune(data[bad:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			bad += size
		}
		return "", fmt.Errorf("inventory: line %d is not UTF-8; export the file as \"CSV UTF-8\"", bytes.Count(data[:bad], []byte("\n"))+1)
	}
	return string(data), nil
}

// detectDelimiter picks the most frequent of comma, semicolon and tab in
// the header line, outside quotes. Locales with a decimal comma (much of
// Europe) make Excel and Intune write semicolons.
func detectDelimiter(text string) rune {
	counts := map[rune]int{}
	quoted := false
	for _, c := range text {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if c == '\n' {
			break
		}
		if c == ',' || c == ';' || c == '\t' {
			counts[c]++
		}
	}
	best := ','
	for _, c := range []rune{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

// shiftLine corrects a csv error's line numbers for a dropped sep= line.
func shiftLine(err error, offset int) error {
	var pe *csv.ParseError
	if offset == 0 || !errors.As(err, &pe) {
		return err
	}
	shifted := *pe
	shifted.StartLine += offset
	shifted.Line += offset
	return &shifted
}

// rawKeys are the JSON keys of a row: the headers as written, with a
// repeated header numbered so no cell is lost.
func rawKeys(header []string) []string {
	seen := map[string]int{}
	keys := make([]string, len(header))
	for i, h := range header {
		seen[h]++
		keys[i] = h
		if n := seen[h]; n > 1 {
			keys[i] = fmt.Sprintf("%s#%d", h, n)
		}
	}
	return keys
}

// rawJSON keeps the row in the file's column order, which reads more
// naturally than sorted keys when an auditor opens it.
func rawJSON(keys, rec []string) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(rec[i])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func joinInts(ns []int) string {
	sort.Ints(ns)
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
