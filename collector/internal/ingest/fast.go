package ingest

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// decodeFast reads an envelope laid out as encoding/json writes one — no
// whitespace, keys in the exact spelling of the struct tags, each once,
// no nulls, integers as plain digits, rows as canonicalRows accepts them
// — without reflection and without a string allocation per value (all
// strings are slices of one copy of the body). That layout is what every
// agent sends; ok is false for anything else, including anything
// encoding/json would refuse, and the caller then decodes with
// encoding/json. So this is a shortcut that can never change an answer:
// for every input it accepts it yields exactly what decodeSlow yields
// (FuzzDecodeFast holds it to that).
//
// Unknown keys (a newer agent's optional fields) also take the slow path
// rather than being skipped here, so this code never has to judge JSON it
// does not understand.
func decodeFast(data []byte) (store.EncodedEnvelope, bool) {
	p := parser{s: string(data)}
	env := &evidence.Envelope{}
	enc := store.EncodedEnvelope{Envelope: env}
	var seen uint
	ok := p.object(func(key string) bool {
		var bit uint
		switch key {
		case "schema":
			bit = 1 << 0
			env.Schema, p.ok = p.int()
		case "device_id":
			bit = 1 << 1
			env.DeviceID, p.ok = p.str()
		case "agent_version":
			bit = 1 << 2
			env.AgentVersion, p.ok = p.str()
		case "seq":
			bit = 1 << 3
			env.Seq, p.ok = p.uint64()
		case "sent_at":
			bit = 1 << 4
			env.SentAt, p.ok = p.time()
		case "results":
			bit = 1 << 5
			p.ok = p.results(enc.Envelope, &enc.Rows)
		case "heartbeat":
			bit = 1 << 6
			env.Heartbeat = &evidence.Heartbeat{}
			p.ok = p.heartbeat(env.Heartbeat)
		case "gaps":
			bit = 1 << 7
			p.ok = p.gaps(&env.Gaps)
		default:
			return false
		}
		return once(&seen, bit) && p.ok
	})
	if !ok || p.i != len(p.s) {
		return store.EncodedEnvelope{}, false
	}
	return enc, true
}

// parser walks p.s from p.i; every method reports false as soon as the
// input leaves the layout decodeFast accepts.
type parser struct {
	s  string
	i  int
	ok bool // scratch for field decoders
}

func (p *parser) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object calls field for each key, positioned at its value; field
// consumes the value.
func (p *parser) object(field func(key string) bool) bool {
	if !p.lit('{') {
		return false
	}
	if p.lit('}') {
		return true
	}
	for {
		key, ok := p.plain()
		if !ok || !p.lit(':') || !field(key) {
			return false
		}
		if p.lit(',') {
			continue
		}
		return p.lit('}')
	}
}

// array calls elem for each element, positioned at it.
func (p *parser) array(elem func() bool) bool {
	if !p.lit('[') {
		return false
	}
	if p.lit(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.lit(',') {
			continue
		}
		return p.lit(']')
	}
}

// plain reads a string of printable ASCII without escapes (every key of
// the schema is one).
func (p *parser) plain() (string, bool) {
	if !p.lit('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			return p.s[start : p.i-1], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
	}
	return "", false
}

// str reads a string value. Plain text is sliced from the body; anything
// with escapes or non-ASCII is decoded by encoding/json itself, so its
// handling (including invalid UTF-8) is the slow path's by construction.
func (p *parser) str() (string, bool) {
	start := p.i
	if v, ok := p.plain(); ok {
		return v, true
	}
	p.i = start
	if !p.lit('"') {
		return "", false
	}
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			var v string
			if err := json.Unmarshal([]byte(p.s[start:p.i]), &v); err != nil {
				return "", false
			}
			return v, true
		case c == '\\':
			p.i++
		case c < 0x20:
			return "", false
		}
	}
	return "", false
}

// digits reads -?(0|[1-9][0-9]*): a JSON integer without fraction or
// exponent (encoding/json refuses those for integer fields anyway).
func (p *parser) digits() (string, bool) {
	start := p.i
	p.lit('-')
	first := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == first || (p.s[first] == '0' && p.i-first > 1) {
		return "", false
	}
	if p.i < len(p.s) && (p.s[p.i] == '.' || p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		return "", false
	}
	return p.s[start:p.i], true
}

// int parses as encoding/json does for an int field (strconv, range of
// int); out of range takes the slow path, which refuses it.
func (p *parser) int() (int, bool) {
	d, ok := p.digits()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(d, 10, strconv.IntSize)
	return int(n), err == nil
}

func (p *parser) int64() (int64, bool) {
	d, ok := p.digits()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(d, 10, 64)
	return n, err == nil
}

func (p *parser) uint64() (uint64, bool) {
	d, ok := p.digits()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(d, 10, 64)
	return n, err == nil
}

// time hands the quoted token to time.Time's own UnmarshalJSON, as
// encoding/json does.
func (p *parser) time() (time.Time, bool) {
	start := p.i
	if _, ok := p.plain(); !ok {
		return time.Time{}, false
	}
	var t time.Time
	if err := t.UnmarshalJSON([]byte(p.s[start:p.i])); err != nil {
		return time.Time{}, false
	}
	return t, true
}

func (p *parser) results(env *evidence.Envelope, rows *[]string) bool {
	var out []evidence.Result
	var enc []string
	ok := p.array(func() bool {
		var r evidence.Result
		var seen uint
		var rowsText string
		ok := p.object(func(key string) bool {
			var bit uint
			switch key {
			case "check_id":
				bit = 1 << 0
				r.CheckID, p.ok = p.str()
			case "check_version":
				bit = 1 << 1
				r.CheckVersion, p.ok = p.int()
			case "pack":
				bit = 1 << 2
				r.Pack, p.ok = p.str()
			case "pack_version":
				bit = 1 << 3
				r.PackVersion, p.ok = p.str()
			case "observed_at":
				bit = 1 << 4
				r.ObservedAt, p.ok = p.time()
			case "status":
				bit = 1 << 5
				var s string
				s, p.ok = p.str()
				r.Status = evidence.Status(s)
			case "rows":
				bit = 1 << 6
				end, ok := rowsEnd(p.s, p.i)
				if !ok {
					return false
				}
				rowsText, p.i, p.ok = p.s[p.i:end], end, true
			case "reason":
				bit = 1 << 7
				r.Reason, p.ok = p.str()
			case "error":
				bit = 1 << 8
				r.Error, p.ok = p.str()
			case "duration_ms":
				bit = 1 << 9
				r.DurationMS, p.ok = p.int64()
			case "engine":
				bit = 1 << 10
				r.Engine, p.ok = p.str()
			default:
				return false
			}
			return once(&seen, bit) && p.ok
		})
		if !ok {
			return false
		}
		if rowsText == "" {
			rowsText = "[]" // absent, as rowsColumn has it
		}
		if out == nil {
			out, enc = make([]evidence.Result, 0, 32), make([]string, 0, 32)
		}
		out, enc = append(out, r), append(enc, rowsText)
		return true
	})
	// encoding/json leaves an empty array as a non-nil empty slice, which
	// decodeSlow's copy turns into nil: so does this.
	env.Results, *rows = out, enc
	return ok
}

func (p *parser) heartbeat(h *evidence.Heartbeat) bool {
	var seen uint
	return p.object(func(key string) bool {
		var bit uint
		switch key {
		case "observed_at":
			bit = 1 << 0
			h.ObservedAt, p.ok = p.time()
		case "hostname":
			bit = 1 << 1
			h.Hostname, p.ok = p.str()
		case "uptime_s":
			bit = 1 << 2
			h.UptimeS, p.ok = p.int64()
		case "spool_depth":
			bit = 1 << 3
			h.SpoolDepth, p.ok = p.int()
		case "checks_known":
			bit = 1 << 4
			h.ChecksKnown, p.ok = p.int()
		default:
			return false
		}
		return once(&seen, bit) && p.ok
	})
}

func (p *parser) gaps(gaps *[]evidence.Gap) bool {
	out := []evidence.Gap{}
	ok := p.array(func() bool {
		var g evidence.Gap
		var seen uint
		ok := p.object(func(key string) bool {
			var bit uint
			switch key {
			case "from":
				bit = 1 << 0
				g.From, p.ok = p.time()
			case "to":
				bit = 1 << 1
				g.To, p.ok = p.time()
			case "dropped":
				bit = 1 << 2
				g.Dropped, p.ok = p.int()
			case "reason":
				bit = 1 << 3
				g.Reason, p.ok = p.str()
			default:
				return false
			}
			return once(&seen, bit) && p.ok
		})
		out = append(out, g)
		return ok
	})
	*gaps = out
	return ok
}

// once records bit in *seen and reports whether it was not there yet:
// each key may appear once in an object.
func once(seen *uint, bit uint) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}
