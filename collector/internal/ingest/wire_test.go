package ingest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// oldRowsColumn is how the rows column was filled before ingest passed
// raw rows through: decode into evidence.Result's type, re-encode in the
// store. rowsColumn must answer exactly this, accept what it accepted and
// refuse what it refused.
func oldRowsColumn(raw string) (string, error) {
	var r struct {
		Rows []map[string]string `json:"rows,omitempty"`
	}
	body := `{}`
	if raw != "" {
		body = `{"rows":` + raw + `}`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return "", err
	}
	return store.EncodeRows(r.Rows)
}

func TestRowsColumn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		want      string // "" with wantErr
		wantErr   bool
		fast      bool // passed through without decoding
	}{
		{name: "absent", raw: "", want: "[]"},
		{name: "null", raw: "null", want: "[]"},
		{name: "empty array", raw: "[]", want: "[]", fast: true},
		{name: "one row", raw: `[{"compliant":"0","path":"/"}]`, want: `[{"compliant":"0","path":"/"}]`, fast: true},
		{name: "two rows and an empty object", raw: `[{"a":"1"},{},{"b":""}]`, want: `[{"a":"1"},{},{"b":""}]`, fast: true},
		{name: "encoder escapes pass", raw: `[{"p":"C:\\Windows \"x\"\n\u003c\u0026\u003e\u2028\u0001"}]`,
			want: `[{"p":"C:\\Windows \"x\"\n\u003c\u0026\u003e\u2028\u0001"}]`, fast: true},
		{name: "non-ASCII passes", raw: `[{"host":"café-ü"}]`, want: `[{"host":"café-ü"}]`, fast: true},
		{name: "whitespace compacted", raw: "[ {\"b\": \"2\", \"a\" :\"1\"}\n]", want: `[{"a":"1","b":"2"}]`},
		{name: "unsorted keys sorted", raw: `[{"b":"2","a":"1"}]`, want: `[{"a":"1","b":"2"}]`},
		{name: "duplicate key keeps the last", raw: `[{"a":"1","a":"2"}]`, want: `[{"a":"2"}]`},
		{name: "other escapes re-encoded", raw: `[{"a":"\/\u0041<"}]`, want: `[{"a":"/A\u003c"}]`},
		{name: "escaped keys sorted by value", raw: `[{"\u0062":"x","a":"y"}]`, want: `[{"a":"y","b":"x"}]`},
		{name: "invalid UTF-8 replaced", raw: "[{\"a\":\"\xff\"}]", want: "[{\"a\":\"\uFFFD\"}]"},
		{name: "null row kept", raw: `[null]`, want: `[null]`},
		{name: "null value is empty", raw: `[{"a":null}]`, want: `[{"a":""}]`},
		{name: "object refused", raw: `{"a":"1"}`, wantErr: true},
		{name: "string refused", raw: `"rows"`, wantErr: true},
		{name: "number refused", raw: `5`, wantErr: true},
		{name: "array of numbers refused", raw: `[1]`, wantErr: true},
		{name: "array of arrays refused", raw: `[[]]`, wantErr: true},
		{name: "number value refused", raw: `[{"a":1}]`, wantErr: true},
		{name: "bool value refused", raw: `[{"a":true}]`, wantErr: true},
		{name: "nested object refused", raw: `[{"a":{"b":"c"}}]`, wantErr: true},
		{name: "truncated refused", raw: `[{"a":"1"}`, wantErr: true},
		{name: "trailing data refused", raw: `[]]`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rowsColumn(rawRows(tc.raw))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("rowsColumn(%q) = %q, %v; want %q, error %v", tc.raw, got, err, tc.want, tc.wantErr)
			}
			old, oldErr := oldRowsColumn(tc.raw)
			if (oldErr != nil) != tc.wantErr || old != tc.want {
				t.Errorf("before: %q, %v; now %q, %v", old, oldErr, got, err)
			}
			if fast := canonicalRows(tc.raw); fast != tc.fast {
				t.Errorf("canonicalRows(%q) = %v, want %v", tc.raw, fast, tc.fast)
			}
		})
	}
}

// FuzzRowsColumn holds rowsColumn to the old decode-and-re-encode answer
// for any rows value a valid envelope could carry.
func FuzzRowsColumn(f *testing.F) {
	for _, s := range []string{"", "null", "[]", `[{"a":"1"}]`, `[{"b":"2","a":"1"}]`, `[{"a":"<\u00e9\\"}]`, `[{},null]`, `[{"a":1}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if raw != "" && !json.Valid([]byte(raw)) {
			return // the envelope around it would not parse
		}
		got, err := rowsColumn(rawRows(raw))
		old, oldErr := oldRowsColumn(raw)
		if (err != nil) != (oldErr != nil) || got != old {
			t.Fatalf("rowsColumn(%q) = %q, %v; before: %q, %v", raw, got, err, old, oldErr)
		}
	})
}

// TestDecodeMatchesEvidenceDecode: ingest's decode must accept, refuse and
// read every envelope as evidence.Decode does, rows aside.
func TestDecodeMatchesEvidenceDecode(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile("../../../evidence/testdata/envelope_v1.json")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	edit := func(from, to string) string {
		if !strings.Contains(string(golden), from) {
			t.Fatalf("golden file has no %q", from)
		}
		return strings.Replace(string(golden), from, to, 1)
	}
	for _, tc := range []struct {
		name, body string
		want       error // nil: accepted
	}{
		{"golden", string(golden), nil},
		{"rows null", edit(`"rows": [`, `"rows": null, "x": [`), nil},
		{"rows of numbers", edit(`"compliant": "0"`, `"compliant": 0`), evidence.ErrMalformed},
		{"rows an object", edit(`"rows": [`, `"rows": {"a": "1"}, "x": [`), evidence.ErrMalformed},
		{"rows a string", edit(`"rows": [`, `"rows": "x", "x": [`), evidence.ErrMalformed},
		{"bad JSON", string(golden[:len(golden)/2]), evidence.ErrMalformed},
		{"wrong type elsewhere", edit(`"check_version": 1`, `"check_version": "1"`), evidence.ErrMalformed},
		{"unknown schema", edit(`"schema": 1`, `"schema": 2`), evidence.ErrUnknownSchema},
		{"bad status", edit(`"status": "fail"`, `"status": "maybe"`), evidence.ErrInvalid},
		{"future", edit(`"observed_at": "2026-11-25T09:00:00Z",
      "status": "fail"`, `"observed_at": "2027-11-25T09:00:00Z",
      "status": "fail"`), evidence.ErrInvalid},
		{"no check id", edit(`"check_id": "firewall"`, `"check_id": ""`), evidence.ErrInvalid},
		{"bad gap", edit(`"dropped": 17`, `"dropped": 0`), evidence.ErrInvalid},
		{"nothing in it", `{"schema":1,"device_id":"d-1","seq":1}`, evidence.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := decode([]byte(tc.body), now)
			old, oldErr := evidence.Decode([]byte(tc.body), now)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !errors.Is(oldErr, tc.want) {
					t.Fatalf("decode: %v; evidence.Decode: %v; want both %v", err, oldErr, tc.want)
				}
				return
			}
			if err != nil || oldErr != nil {
				t.Fatalf("decode: %v; evidence.Decode: %v", err, oldErr)
			}
			if len(enc.Rows) != len(old.Results) {
				t.Fatalf("%d encoded rows for %d results", len(enc.Rows), len(old.Results))
			}
			for i := range old.Results {
				want, err := store.EncodeRows(old.Results[i].Rows)
				if err != nil {
					t.Fatal(err)
				}
				if enc.Rows[i] != want {
					t.Errorf("result %d rows %q, want %q", i, enc.Rows[i], want)
				}
				old.Results[i].Rows = nil
			}
			if !reflect.DeepEqual(enc.Envelope, old) {
				t.Errorf("decoded\n %+v\nwant\n %+v", enc.Envelope, old)
			}
		})
	}
}

// agentEnvelopes are envelopes as agents send them (json.Marshal): the
// golden file compacted, and one with escapes, non-ASCII and every
// optional field absent or present.
func agentEnvelopes(t testing.TB) [][]byte {
	t.Helper()
	golden, err := os.ReadFile("../../../evidence/testdata/envelope_v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, golden); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.FixedZone("", 3600))
	odd, err := json.Marshal(evidence.Envelope{Schema: 1, DeviceID: "d-1", AgentVersion: "0.1.0 \"<café>\"", Seq: 1<<64 - 1, SentAt: at,
		Results: []evidence.Result{
			{CheckID: "a", CheckVersion: -3, ObservedAt: at, Status: "pass", Rows: []map[string]string{{}, {"k\n": "v\u2028\x01", "é": "&"}}, DurationMS: -1},
			{CheckID: "b", ObservedAt: at, Status: "fail", Rows: []map[string]string{}, Reason: "r", Error: "e\t", Engine: "osquery"},
		},
		Heartbeat: &evidence.Heartbeat{ObservedAt: at, SpoolDepth: -1},
		Gaps:      []evidence.Gap{{From: at, To: at, Dropped: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hbOnly, err := json.Marshal(evidence.Envelope{Schema: 1, DeviceID: "d-2", SentAt: at, Heartbeat: &evidence.Heartbeat{ObservedAt: at}})
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{compact.Bytes(), odd, hbOnly}
}

// TestDecodeFastTakesAgentEnvelopes: what agents send takes the fast path
// and reads exactly as through encoding/json.
func TestDecodeFastTakesAgentEnvelopes(t *testing.T) {
	t.Parallel()
	for i, body := range agentEnvelopes(t) {
		fast, ok := decodeFast(body)
		if !ok {
			t.Errorf("envelope %d not taken by decodeFast: %s", i, body)
			continue
		}
		slow, err := decodeSlow(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("envelope %d:\nfast %+v %q\nslow %+v %q", i, fast.Envelope, fast.Rows, slow.Envelope, slow.Rows)
		}
	}
	// Anything else leaves it to encoding/json.
	for _, body := range []string{
		` {"schema":1}`, `{"schema":1} `, `{"schema":1,"schema":1}`, `{"Schema":1}`, `{"sche\u006da":1}`,
		`{"schema":1,"x":2}`, `{"schema":1.0}`, `{"schema":01}`, `{"schema":null}`, `{"heartbeat":null}`,
		`{"seq":-1}`, `{"schema":99999999999999999999}`, `{"results":[{"rows":null}]}`, `{"results":[{"rows":[{"b":"1","a":"2"}]}]}`,
		`{"sent_at":"2026-11-25T09:00:00\u005a"}`, `{"results":[{"check_id":"a","check_id":"b"}]}`, `{"device_id":"\ud800"}x`,
	} {
		if enc, ok := decodeFast([]byte(body)); ok {
			t.Errorf("decodeFast(%s) = %+v, want the slow path", body, enc.Envelope)
		}
	}
}

// FuzzDecodeFast holds decodeFast to encoding/json: whatever it accepts,
// decodeSlow must accept and read the same.
func FuzzDecodeFast(f *testing.F) {
	for _, b := range agentEnvelopes(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"schema":1,"results":[{"rows":[{"a":"\u00e9"}]}],"gaps":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodeFast(body)
		if !ok {
			return
		}
		slow, err := decodeSlow(body)
		if err != nil {
			t.Fatalf("decodeFast accepted what encoding/json refuses (%v): %q", err, body)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v %q\nslow %+v %q", body, fast.Envelope, fast.Rows, slow.Envelope, slow.Rows)
		}
	})
}

// benchEnvelope is a realistic 20-result envelope as the agent encodes it,
// signed, for the decode and verify micro-benchmarks.
func benchEnvelope(b *testing.B) (body []byte, pub ed25519.PublicKey, sig string) {
	b.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Hour)
	e := evidence.Envelope{Schema: 1, DeviceID: "bench-00001", AgentVersion: "0.1.0", Seq: 7, SentAt: at,
		Heartbeat: &evidence.Heartbeat{ObservedAt: at, Hostname: "bench-00001.corp.example", UptimeS: 86400, ChecksKnown: 6}}
	for i := range 20 {
		e.Results = append(e.Results, evidence.Result{CheckID: "disk_encryption", CheckVersion: 1, Pack: "fleetproof-core",
			PackVersion: "1.0.0", ObservedAt: at.Add(time.Duration(i)*1500*time.Millisecond + 123456789), Status: evidence.StatusPass,
			Rows:   []map[string]string{{"path": "/", "device_alias": "/dev/dm-1", "encrypted": "1", "type": "LUKS2-aes-xts-plain64", "compliant": "1"}},
			Reason: "1 of 1 rows compliant", DurationMS: int64(5 + i), Engine: "osquery"})
	}
	body, err = json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	return body, pub, evidence.EncodeSignature(ed25519.Sign(priv, body))
}

// BenchmarkDecode compares ingest's decode with the evidence.Decode plus
// store.EncodeRows it replaced, and shows what verification adds.
func BenchmarkDecode(b *testing.B) {
	body, pub, sig := benchEnvelope(b)
	now := time.Now()
	b.Run("before", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			e, err := evidence.Decode(body, now)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range e.Results {
				if _, err := store.EncodeRows(r.Rows); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decode(body, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("slow", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeSlow(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if !evidence.Verify(pub, body, sig) {
				b.Fatal("does not verify")
			}
		}
	})
}
