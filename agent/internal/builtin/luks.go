package builtin

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sort"
	"strconv"
)

// luksHeader is what the on-disk LUKS header says about a container;
// sysfs exposes only the dm uuid, not the cipher, and libcryptsetup (what
// osquery uses) is C.
type luksHeader struct {
	version int    // 1 or 2
	cipher  string // cipher-mode, e.g. "aes-xts-plain64"
	uuid    string
	hdrSize int64 // LUKS2: binary header + JSON area, bytes
}

var luksMagic = []byte("LUKS\xba\xbe")

// luksBinHeaderSize is the fixed binary header of LUKS2 (the JSON area
// follows it); LUKS1's whole header fits in it too.
const luksBinHeaderSize = 4096

// parseLUKSHeader decodes a LUKS1 or LUKS2 header. For LUKS2, b must hold
// the JSON area as well to yield the cipher; a short read still yields the
// version and uuid.
func parseLUKSHeader(b []byte) (luksHeader, bool) {
	if len(b) < 208 || !bytes.Equal(b[:6], luksMagic) {
		return luksHeader{}, false
	}
	h := luksHeader{version: int(binary.BigEndian.Uint16(b[6:8])), uuid: cString(b[168:208])}
	switch h.version {
	case 1:
		name, mode := cString(b[8:40]), cString(b[40:72])
		h.cipher = name
		if mode != "" {
			h.cipher += "-" + mode
		}
	case 2:
		h.hdrSize = int64(binary.BigEndian.Uint64(b[8:16]))
		if len(b) > luksBinHeaderSize {
			h.cipher = luks2Cipher(b[luksBinHeaderSize:])
		}
	default:
		return luksHeader{}, false
	}
	return h, true
}

// luks2Cipher reads the "encryption" of the first crypt segment from the
// LUKS2 JSON metadata (NUL-padded to the JSON area size).
func luks2Cipher(area []byte) string {
	if i := bytes.IndexByte(area, 0); i >= 0 {
		area = area[:i]
	}
	var meta struct {
		Segments map[string]struct {
			Type       string `json:"type"`
			Encryption string `json:"encryption"`
		} `json:"segments"`
	}
	if json.Unmarshal(area, &meta) != nil {
		return ""
	}
	keys := make([]string, 0, len(meta.Segments))
	for k := range meta.Segments {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := strconv.Atoi(keys[i])
		b, _ := strconv.Atoi(keys[j])
		return a < b
	})
	for _, k := range keys {
		if s := meta.Segments[k]; s.Type == "crypt" {
			return s.Encryption
		}
	}
	return ""
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// readLUKSHeader reads the header of a device node within the root. The
// LUKS2 JSON area is at most 4 MiB by specification.
func (e *Engine) readLUKSHeader(dev string) (luksHeader, bool) {
	b, err := e.fs.readHead(dev, luksBinHeaderSize)
	if err != nil {
		return luksHeader{}, false
	}
	h, ok := parseLUKSHeader(b)
	if !ok || h.version != 2 || h.hdrSize <= luksBinHeaderSize {
		return h, ok
	}
	if b, err = e.fs.readHead(dev, int(min(h.hdrSize, 4<<20))); err == nil {
		if full, ok := parseLUKSHeader(b); ok {
			h = full
		}
	}
	return h, true
}
