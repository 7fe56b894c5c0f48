package builtin

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
)

// rpmPackagesTable is osquery's rpm_packages, read from rpm's SQLite
// database (rpm ≥ 4.16: RHEL/Rocky/Alma 9+, Fedora 33+, Amazon Linux 2023).
// Berkeley DB (EL8 and older) and ndb (SUSE) databases are not read.
var rpmPackagesTable = &tableDef{
	name: "rpm_packages",
	columns: cols("name TEXT", "version TEXT", "release TEXT", "source TEXT", "size BIGINT", "sha1 TEXT",
		"arch TEXT", "epoch INTEGER", "install_time INTEGER", "vendor TEXT", "package_group TEXT"),
	gen: genRPMPackages,
}

// rpmDBPaths are where rpm keeps rpmdb.sqlite; Fedora moved it to
// /usr/lib/sysimage/rpm and left /var/lib/rpm as a symlink.
var rpmDBPaths = []string{"/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"}

// rpm header tags and data types (rpm's rpmtag.h).
const (
	rpmTagSHA1Header  = 269
	rpmTagName        = 1000
	rpmTagVersion     = 1001
	rpmTagRelease     = 1002
	rpmTagEpoch       = 1003
	rpmTagInstallTime = 1008
	rpmTagSize        = 1009
	rpmTagVendor      = 1011
	rpmTagGroup       = 1016
	rpmTagArch        = 1022
	rpmTagSourceRPM   = 1044
	rpmTagLongSize    = 5009

	rpmInt16       = 3
	rpmInt32       = 4
	rpmInt64       = 5
	rpmString      = 6
	rpmStringArray = 8
	rpmI18NString  = 9
)

type rpmEntry struct {
	typ, offset, count uint32
}

// rpmHeader is a header blob as rpmdb stores it: entry count and data
// length (big-endian uint32 each), 16-byte index entries (tag, type,
// offset, count), then the data store. The 8-byte magic of headers in
// package files is not there.
type rpmHeader struct {
	entries map[uint32]rpmEntry
	data    []byte
}

func parseRPMHeader(b []byte) (rpmHeader, error) {
	if len(b) < 8 {
		return rpmHeader{}, errors.New("rpm header: too short")
	}
	il, dl := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	// rpm itself refuses more than 0xffff entries or 256 MiB of data.
	if il > 0xffff || dl > 256<<20 || uint64(len(b)) < 8+16*uint64(il)+uint64(dl) {
		return rpmHeader{}, fmt.Errorf("rpm header: %d entries, %d data bytes do not fit in %d bytes", il, dl, len(b))
	}
	h := rpmHeader{entries: make(map[uint32]rpmEntry, il)}
	idx := b[8 : 8+16*il]
	h.data = b[8+16*il : 8+16*il+dl]
	for i := uint32(0); i < il; i++ {
		e := idx[16*i:]
		// Later entries win: installed headers append replacements
		// ("dribbles") after the immutable region.
		h.entries[binary.BigEndian.Uint32(e)] = rpmEntry{
			typ: binary.BigEndian.Uint32(e[4:]), offset: binary.BigEndian.Uint32(e[8:]), count: binary.BigEndian.Uint32(e[12:]),
		}
	}
	return h, nil
}

// str returns a string tag (the first of an array or i18n table).
func (h rpmHeader) str(tag uint32) (string, bool) {
	e, ok := h.entries[tag]
	if !ok || e.count == 0 || (e.typ != rpmString && e.typ != rpmStringArray && e.typ != rpmI18NString) {
		return "", false
	}
	if uint64(e.offset) >= uint64(len(h.data)) {
		return "", false
	}
	s := h.data[e.offset:]
	end := 0
	for end < len(s) && s[end] != 0 {
		end++
	}
	if end == len(s) {
		return "", false // unterminated
	}
	return string(s[:end]), true
}

// num returns the first value of an integer tag.
func (h rpmHeader) num(tag uint32) (int64, bool) {
	e, ok := h.entries[tag]
	if !ok || e.count == 0 {
		return 0, false
	}
	size := map[uint32]uint64{rpmInt16: 2, rpmInt32: 4, rpmInt64: 8}[e.typ]
	if size == 0 || uint64(e.offset)+size > uint64(len(h.data)) {
		return 0, false
	}
	d := h.data[e.offset:]
	switch e.typ {
	case rpmInt16:
		return int64(binary.BigEndian.Uint16(d)), true
	case rpmInt32:
		return int64(binary.BigEndian.Uint32(d)), true
	default:
		return int64(binary.BigEndian.Uint64(d)), true
	}
}

// rpmRow renders a header as osquery does: text tags that are missing
// are "", a missing epoch is NULL.
func rpmRow(h rpmHeader) (row, bool) {
	name, ok := h.str(rpmTagName)
	if !ok {
		return nil, false // not a package header
	}
	text := func(tag uint32) string { s, _ := h.str(tag); return s }
	r := row{
		"name": name, "version": text(rpmTagVersion), "release": text(rpmTagRelease),
		"source": text(rpmTagSourceRPM), "sha1": text(rpmTagSHA1Header), "arch": text(rpmTagArch),
		"vendor": text(rpmTagVendor), "package_group": text(rpmTagGroup),
	}
	if n, ok := h.num(rpmTagSize); ok {
		r["size"] = n
	} else if n, ok := h.num(rpmTagLongSize); ok {
		r["size"] = n
	}
	if n, ok := h.num(rpmTagEpoch); ok {
		r["epoch"] = n
	}
	if n, ok := h.num(rpmTagInstallTime); ok {
		r["install_time"] = n
	}
	return r, true
}

// readRPMDB reads every package header from an rpmdb.sqlite file, read
// only, waiting briefly if rpm or dnf holds a write lock.
func readRPMDB(ctx context.Context, path string) ([]row, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rs, err := db.QueryContext(ctx, "SELECT blob FROM Packages ORDER BY hnum")
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var rows []row
	for rs.Next() {
		var blob []byte
		if err := rs.Scan(&blob); err != nil {
			return nil, err
		}
		h, err := parseRPMHeader(blob)
		if err != nil {
			continue // one damaged header must not hide the others
		}
		if r, ok := rpmRow(h); ok {
			rows = append(rows, r)
		}
	}
	return rows, rs.Err()
}

func genRPMPackages(ctx context.Context, e *Engine) ([]row, error) {
	for _, p := range rpmDBPaths {
		if !e.fs.exists(p) {
			continue
		}
		rows, err := readRPMDB(ctx, e.fs.resolved(p))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return rows, nil
	}
	return nil, nil
}
