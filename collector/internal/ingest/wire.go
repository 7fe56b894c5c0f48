package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// wireEnvelope is evidence.Envelope as ingest decodes it: the same JSON,
// but each result's rows kept as the JSON text they arrived as. Decoding
// rows into maps only for the store to encode them back was the largest
// share of ingest's CPU; the rows column stores that JSON anyway.
//
// The outer Results and Rows fields shadow the embedded ones (encoding/json
// prefers the shallower field), so everything else decodes exactly as
// evidence.Decode would.
type wireEnvelope struct {
	evidence.Envelope
	Results []wireResult `json:"results,omitempty"`
}

type wireResult struct {
	evidence.Result
	Rows rawRows `json:"rows,omitempty"`
}

// rawRows holds a rows value undecoded. Absent and null both leave it
// empty or "null" (depending on the encoding/json implementation).
type rawRows string

func (r *rawRows) UnmarshalJSON(b []byte) error {
	*r = rawRows(b)
	return nil
}

// decode is evidence.Decode for ingest: the same checks, in the same
// order (JSON shape first, then Validate), with the same errors, but
// returning rows already encoded for the store. Envelopes as agents
// write them take decodeFast; anything else decodeSlow.
func decode(data []byte, now time.Time) (store.EncodedEnvelope, error) {
	enc, ok := decodeFast(data)
	if !ok {
		var err error
		if enc, err = decodeSlow(data); err != nil {
			return store.EncodedEnvelope{}, err
		}
	}
	if err := enc.Envelope.Validate(now); err != nil {
		return store.EncodedEnvelope{}, err
	}
	return enc, nil
}

// decodeSlow decodes with encoding/json into wireEnvelope: any input
// evidence.Decode reads, read the same way.
func decodeSlow(data []byte) (store.EncodedEnvelope, error) {
	var w wireEnvelope
	if err := json.Unmarshal(data, &w); err != nil {
		return store.EncodedEnvelope{}, fmt.Errorf("%w: %v", evidence.ErrMalformed, err)
	}
	env := &w.Envelope
	enc := store.EncodedEnvelope{Envelope: env}
	if len(w.Results) > 0 {
		env.Results = make([]evidence.Result, len(w.Results))
		enc.Rows = make([]string, len(w.Results))
		for i := range w.Results {
			wr := &w.Results[i]
			rows, err := rowsColumn(wr.Rows)
			if err != nil {
				// What json.Unmarshal into evidence.Result.Rows refuses.
				return store.EncodedEnvelope{}, fmt.Errorf("%w: result %d (%s): rows: %v", evidence.ErrMalformed, i, wr.CheckID, err)
			}
			env.Results[i], enc.Rows[i] = wr.Result, rows
		}
	}
	return enc, nil
}

// rowsColumn returns the rows column's text for a result's raw rows JSON:
// exactly store.EncodeRows of what evidence.Decode would have decoded, or
// the error decoding them would have given. Agents encode rows with
// encoding/json, so the raw text almost always is already that text and
// is passed through after one scan; anything else (whitespace, unsorted
// or duplicate keys, other escapes, nulls, wrong types) takes the slow
// path of decoding and re-encoding, which gives the same answer as before
// by construction.
func rowsColumn(raw rawRows) (string, error) {
	if raw == "" || raw == "null" {
		return "[]", nil
	}
	if canonicalRows(string(raw)) {
		return string(raw), nil
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(raw), &rows); err != nil {
		return "", err
	}
	if rows == nil {
		rows = []map[string]string{}
	}
	return store.EncodeRows(rows)
}

// canonicalRows reports whether s is exactly how encoding/json encodes a
// []map[string]string: '[' objects separated by ',' ']', no whitespace,
// each object's keys strictly ascending (so no duplicates), every key and
// value a string in the encoder's own escaping. False means "not sure",
// never "invalid": the caller then decodes and re-encodes.
func canonicalRows(s string) bool {
	end, ok := rowsEnd(s, 0)
	return ok && end == len(s)
}

// rowsEnd is canonicalRows for the value starting at s[i], returning the
// index just after it.
func rowsEnd(s string, i int) (int, bool) {
	if i >= len(s) || s[i] != '[' {
		return 0, false
	}
	i++
	if i < len(s) && s[i] == ']' {
		return i + 1, true
	}
	for {
		if i >= len(s) || s[i] != '{' {
			return 0, false
		}
		i++
		if i < len(s) && s[i] == '}' {
			i++
		} else {
			var prev string
			for first := true; ; first = false {
				key, end, ok := canonicalString(s, i)
				if !ok || (!first && key <= prev) || end >= len(s) || s[end] != ':' {
					return 0, false
				}
				prev = key
				if _, end, ok = canonicalString(s, end+1); !ok || end >= len(s) {
					return 0, false
				}
				i = end + 1
				if s[end] == '}' {
					break
				}
				if s[end] != ',' {
					return 0, false
				}
			}
		}
		if i >= len(s) {
			return 0, false
		}
		switch s[i] {
		case ']':
			return i + 1, true
		case ',':
			i++
		default:
			return 0, false
		}
	}
}

// canonicalString checks the JSON string starting at s[i] (its opening
// quote) and returns its decoded value and the index after its closing
// quote. Printable ASCII other than what the encoder escapes passes as
// is; a string with anything else (escapes, non-ASCII) must be byte for
// byte what json.Marshal writes for its decoded value.
func canonicalString(s string, i int) (val string, end int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	start := i + 1
	plain := true
	for j := start; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			if plain {
				return s[start:j], j + 1, true
			}
			v, ok := exactString(s[i : j+1])
			return v, j + 1, ok
		case c == '\\':
			plain = false
			j++ // the escaped byte cannot end the string
		case c < 0x20:
			return "", 0, false // invalid JSON; let the decoder say so
		case c >= 0x7f || c == '<' || c == '>' || c == '&':
			plain = false
		}
	}
	return "", 0, false
}

// exactString decodes the quoted JSON string q and reports whether
// json.Marshal gives q back.
func exactString(q string) (string, bool) {
	var v string
	if err := json.Unmarshal([]byte(q), &v); err != nil {
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil || !bytes.Equal(b, []byte(q)) {
		return "", false
	}
	return v, true
}
