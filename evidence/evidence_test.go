package evidence_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/evidence"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func sampleEnvelope() *evidence.Envelope {
	return &evidence.Envelope{
		Schema:       evidence.SchemaVersion,
		DeviceID:     "d-4c4c4544-0042",
		AgentVersion: "0.1.0",
		Seq:          42,
		SentAt:       t0.Add(2 * time.Second),
		Results: []evidence.Result{
			{
				CheckID: "disk_encryption", CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
				ObservedAt: t0, Status: evidence.StatusFail,
				Rows:       []map[string]string{{"path": "/", "device_alias": "/dev/vda1", "encrypted": "0", "compliant": "0"}},
				Reason:     "1 of 1 rows not compliant", DurationMS: 12, Engine: "builtin",
			},
			{
				CheckID: "screen_lock", CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
				ObservedAt: t0, Status: evidence.StatusNotApplicable, Reason: "query returned no rows", Engine: "builtin",
			},
			{
				CheckID: "firewall", CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
				ObservedAt: t0, Status: evidence.StatusError, Error: "no such table: iptables", DurationMS: 3, Engine: "builtin",
			},
		},
		Heartbeat: &evidence.Heartbeat{ObservedAt: t0, Hostname: "build-07", UptimeS: 86400, SpoolDepth: 3, ChecksKnown: 5},
		Gaps:      []evidence.Gap{{From: t0.Add(-48 * time.Hour), To: t0.Add(-47 * time.Hour), Dropped: 17, Reason: "spool full"}},
	}
}

func sampleEnroll() *evidence.EnrollRequest {
	return &evidence.EnrollRequest{
		Schema: evidence.SchemaVersion, Secret: "s3cret", DeviceID: "d-4c4c4544-0042",
		PublicKey:    "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4",
		AgentVersion: "0.1.0",
		Host: evidence.HostFacts{
			Hostname: "build-07", OS: "linux", Platform: "debian", PlatformVersion: "12.8",
			KernelVersion: "6.1.0-28-amd64", Arch: "amd64", HardwareUUID: "4c4c4544-0042-3510-8052-b4c04f4e3232",
			Serial: "CZ1234", CPUModel: "Intel(R) Xeon(R)", CPUCores: 2, MemoryBytes: 25769803776, BootTime: 1764000000,
		},
		Tags: map[string]string{"department": "eng", "owner": "ada@example.com"},
	}
}

func sampleEnrollResponse() *evidence.EnrollResponse {
	return &evidence.EnrollResponse{
		Schema: evidence.SchemaVersion, DeviceID: "d-4c4c4544-0042",
		NATSURLs: []string{"nats://127.0.0.1:4222"}, EnrolledAt: t0,
	}
}

// TestGolden pins the JSON encoding of every wire type: a change to these
// files is a change to the contract and must follow the rules in doc.go.
func TestGolden(t *testing.T) {
	cases := []struct {
		file string
		v    any
		into func() any
	}{
		{"envelope_v1.json", sampleEnvelope(), func() any { return new(evidence.Envelope) }},
		{"enroll_request_v1.json", sampleEnroll(), func() any { return new(evidence.EnrollRequest) }},
		{"enroll_response_v1.json", sampleEnrollResponse(), func() any { return new(evidence.EnrollResponse) }},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got, err := json.MarshalIndent(c.v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoding of %s changed; if intended, run go test -update and check doc.go's rules.\ngot:\n%s", c.file, got)
			}
			// Decoding the golden file must give back the same value.
			back := c.into()
			if err := json.Unmarshal(want, back); err != nil {
				t.Fatal(err)
			}
			again, _ := json.MarshalIndent(back, "", "  ")
			if !bytes.Equal(append(again, '\n'), want) {
				t.Errorf("%s does not round-trip", c.file)
			}
		})
	}
}

func TestDecodeAcceptsUnknownFieldsFromNewerAgents(t *testing.T) {
	data, _ := json.Marshal(sampleEnvelope())
	data = bytes.Replace(data, []byte(`{"schema":1,`), []byte(`{"schema":1,"added_in_future":{"x":1},`), 1)
	e, err := evidence.Decode(data, t0)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 42 || len(e.Results) != 3 {
		t.Fatalf("decoded %+v", e)
	}
}

func TestDecodeRejects(t *testing.T) {
	mutate := func(f func(e *evidence.Envelope)) []byte {
		e := sampleEnvelope()
		f(e)
		b, _ := json.Marshal(e)
		return b
	}
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"not json", []byte("{nope"), evidence.ErrMalformed, ""},
		{"wrong json type", []byte(`{"schema":"one"}`), evidence.ErrMalformed, ""},
		{"schema from the future", mutate(func(e *evidence.Envelope) { e.Schema = 99 }), evidence.ErrUnknownSchema, "99"},
		{"schema missing", mutate(func(e *evidence.Envelope) { e.Schema = 0 }), evidence.ErrUnknownSchema, ""},
		{"device id with a dot", mutate(func(e *evidence.Envelope) { e.DeviceID = "a.b" }), evidence.ErrInvalid, "device_id"},
		{"device id empty", mutate(func(e *evidence.Envelope) { e.DeviceID = "" }), evidence.ErrInvalid, "device_id"},
		{"empty envelope", mutate(func(e *evidence.Envelope) { e.Results, e.Heartbeat, e.Gaps = nil, nil, nil }), evidence.ErrInvalid, "no results"},
		{"unknown status", mutate(func(e *evidence.Envelope) { e.Results[0].Status = "great" }), evidence.ErrInvalid, "status"},
		{"no check id", mutate(func(e *evidence.Envelope) { e.Results[1].CheckID = "" }), evidence.ErrInvalid, "check_id"},
		{"no observed time", mutate(func(e *evidence.Envelope) { e.Results[0].ObservedAt = time.Time{} }), evidence.ErrInvalid, "observed_at"},
		{"dated before 2000 (a broken clock)", mutate(func(e *evidence.Envelope) { e.Results[0].ObservedAt = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) }), evidence.ErrInvalid, "before 2000"},
		{"dated far in the future", mutate(func(e *evidence.Envelope) { e.Results[2].ObservedAt = t0.Add(48 * time.Hour) }), evidence.ErrInvalid, "future"},
		{"heartbeat in the future", mutate(func(e *evidence.Envelope) { e.Heartbeat.ObservedAt = t0.Add(2 * time.Hour) }), evidence.ErrInvalid, "heartbeat"},
		{"gap that drops nothing", mutate(func(e *evidence.Envelope) { e.Gaps[0].Dropped = 0 }), evidence.ErrInvalid, "gap"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := evidence.Decode(c.data, t0)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
		})
	}
}

func TestDecodeToleratesSmallClockSkew(t *testing.T) {
	e := sampleEnvelope()
	e.Results[0].ObservedAt = t0.Add(evidence.MaxFutureSkew - time.Minute)
	b, _ := json.Marshal(e)
	if _, err := evidence.Decode(b, t0); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	body := []byte(`{"schema":1}`)
	sig := evidence.EncodeSignature(ed25519.Sign(priv, body))
	cases := []struct {
		name   string
		pub    ed25519.PublicKey
		body   []byte
		header string
		want   bool
	}{
		{"signed by the key", pub, body, sig, true},
		{"other key", otherPub, body, sig, false},
		{"body changed", pub, []byte(`{"schema":2}`), sig, false},
		{"not base64", pub, body, "%%%", false},
		{"empty header", pub, body, "", false},
		{"truncated signature", pub, body, sig[:20], false},
		{"no key", nil, body, sig, false},
	}
	for _, c := range cases {
		if got := evidence.Verify(c.pub, c.body, c.header); got != c.want {
			t.Errorf("%s: Verify = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSubjectAndMsgID(t *testing.T) {
	e := sampleEnvelope()
	if got := evidence.Subject(e.DeviceID, "results"); got != "evidence.v1.d-4c4c4544-0042.results" {
		t.Errorf("Subject = %q", got)
	}
	if got := e.MsgID(); got != "d-4c4c4544-0042-42" {
		t.Errorf("MsgID = %q", got)
	}
	for id, ok := range map[string]bool{"abc": true, "A_b-9": true, "a.b": false, "a*": false, "a b": false, ">": false, "-a": false} {
		if evidence.ValidDeviceID(id) != ok {
			t.Errorf("ValidDeviceID(%q) != %v", id, ok)
		}
	}
}

func ExampleDecode() {
	body := []byte(`{"schema":1,"device_id":"laptop-1","seq":7,"sent_at":"2026-11-25T09:00:00Z",
	  "results":[{"check_id":"disk_encryption","status":"pass","observed_at":"2026-11-25T09:00:00Z"}]}`)
	e, err := evidence.Decode(body, time.Date(2026, 11, 25, 9, 0, 1, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	fmt.Println(e.MsgID(), e.Results[0].Status)
	fmt.Println(evidence.Subject(e.DeviceID, "results"))
	// Output:
	// laptop-1-7 pass
	// evidence.v1.laptop-1.results
}
