package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/ingest"
	"github.com/fleetproof/fleetproof/collector/internal/natsd"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// rig is one collector's worth of real parts: an in-process NATS server
// with JetStream, a ClickHouse database, and a running Ingester.
type rig struct {
	t   *testing.T
	js  jetstream.JetStream
	st  *store.Store
	in  *ingest.Ingester
	dev device
}

type device struct {
	id string
	kp nkeys.KeyPair
}

func newDevice(t *testing.T, id string) device {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return device{id: id, kp: kp}
}

func (d device) pub() string { p, _ := d.kp.PublicKey(); return p }

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{}, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}

type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) { return len(p), nil }

func startNATS(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := natsd.Start(natsd.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func newRig(t *testing.T, dsn string) *rig {
	t.Helper()
	r := newIdleRig(t, dsn)
	r.in = r.run(ingest.Options{MaxWait: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, MaxMessageBytes: 64 << 10})
	return r
}

// newIdleRig is newRig without a running Ingester.
func newIdleRig(t *testing.T, dsn string) *rig {
	t.Helper()
	ctx := context.Background()
	js := startNATS(t)
	st, err := store.Open(ctx, dsn, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := ingest.EnsureStream(ctx, js, ingest.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, js: js, st: st, dev: newDevice(t, "d-laptop-1")}
	r.enroll(r.dev)
	return r
}

// run starts an Ingester on the shared consumer with o (Consumer, Store
// and Logger filled in) until the test ends.
func (r *rig) run(o ingest.Options) *ingest.Ingester {
	r.t.Helper()
	in, stop := r.start(o)
	r.t.Cleanup(stop)
	return in
}

// start is run with a stop function that cancels the Ingester and waits
// for Run to return.
func (r *rig) start(o ingest.Options) (*ingest.Ingester, func()) {
	r.t.Helper()
	cons, err := r.js.Consumer(context.Background(), ingest.StreamName, ingest.ConsumerName)
	if err != nil {
		r.t.Fatal(err)
	}
	o.Consumer, o.Store, o.Logger = cons, r.st, quietLogger()
	in := ingest.New(o)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(runCtx) }()
	var once sync.Once
	return in, func() { once.Do(func() { cancel(); <-done }) }
}

func (r *rig) enroll(d device) {
	now := time.Now().UTC().Truncate(time.Second)
	if err := r.st.UpsertDevice(context.Background(), store.Device{DeviceID: d.id, PublicKey: d.pub(), OS: "linux",
		Hostname: d.id, EnrolledAt: now, UpdatedAt: now}); err != nil {
		r.t.Fatal(err)
	}
}

var t0 = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

func envelope(dev string, seq uint64, results ...evidence.Result) evidence.Envelope {
	return evidence.Envelope{Schema: 1, DeviceID: dev, AgentVersion: "0.1.0", Seq: seq, SentAt: t0, Results: results}
}

func result(check string, status evidence.Status, at time.Time) evidence.Result {
	return evidence.Result{CheckID: check, CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
		ObservedAt: at, Status: status, Rows: []map[string]string{{"compliant": "0", "path": "/"}},
		Reason: "1 of 1 rows not compliant", DurationMS: 7, Engine: "builtin"}
}

// publish sends body on subject, signed by signer (nil: unsigned).
func (r *rig) publish(subject string, body []byte, signer nkeys.KeyPair, msgID string) {
	r.t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = body
	if signer != nil {
		sig, err := signer.Sign(body)
		if err != nil {
			r.t.Fatal(err)
		}
		msg.Header.Set(evidence.SignatureHeader, evidence.EncodeSignature(sig))
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := r.js.PublishMsg(context.Background(), msg, opts...); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) publishEnvelope(e evidence.Envelope, signer nkeys.KeyPair) {
	body, err := json.Marshal(e)
	if err != nil {
		r.t.Fatal(err)
	}
	r.publish(evidence.Subject(e.DeviceID, "results"), body, signer, e.MsgID())
}

// waitFor waits on the ingester's progress signal until cond holds.
func (r *rig) waitFor(what string, cond func(ingest.Stats) bool) {
	r.t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for !cond(r.in.Stats()) {
		select {
		case <-r.in.Progress():
		case <-deadline.C:
			r.t.Fatalf("timed out waiting for %s; stats %+v", what, r.in.Stats())
		}
	}
}

// pending reports messages not yet acknowledged by the shared consumer.
func (r *rig) pending() (uint64, int) {
	r.t.Helper()
	c, err := r.js.Consumer(context.Background(), ingest.StreamName, ingest.ConsumerName)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return info.NumPending, info.NumAckPending
}

// drained is pending once the server has applied the acks sent so far:
// it applies them from a queue of its own, so the counts are read until
// nothing is awaiting an ack, or for 5 s.
func (r *rig) drained() (uint64, int) {
	r.t.Helper()
	p, ack := r.pending()
	for deadline := time.Now().Add(5 * time.Second); ack != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		p, ack = r.pending()
	}
	return p, ack
}

func (r *rig) query(q string) []string {
	r.t.Helper()
	rows, err := r.st.Conn().Query(context.Background(), q)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	cols := rows.Columns()
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, strings.Join(vals, "|"))
	}
	return out
}

func TestIngestStoresSignedEnvelopesExactlyAndAcks(t *testing.T) {
	r := newRig(t, chtest.Database(t))
	e := envelope(r.dev.id, 1,
		result("disk_encryption", evidence.StatusFail, t0),
		result("screen_lock", evidence.StatusNotApplicable, t0))
	e.Heartbeat = &evidence.Heartbeat{ObservedAt: t0, Hostname: "laptop-1", UptimeS: 99, SpoolDepth: 2}
	e.Gaps = []evidence.Gap{{From: t0.Add(-2 * time.Hour), To: t0.Add(-90 * time.Minute), Dropped: 4, Reason: "spool full"}}
	r.publishEnvelope(e, r.dev.kp)
	r.waitFor("2 results", func(s ingest.Stats) bool { return s.Results == 2 })

	ts := t0.Format("2006-01-02 15:04:05")
	want := []string{
		"d-laptop-1|disk_encryption|" + ts + "|fail|1|fleetproof-core|1.0.0|[{\"compliant\":\"0\",\"path\":\"/\"}]|1 of 1 rows not compliant||7|builtin|0.1.0|1",
		"d-laptop-1|screen_lock|" + ts + "|not_applicable|1|fleetproof-core|1.0.0|[{\"compliant\":\"0\",\"path\":\"/\"}]|1 of 1 rows not compliant||7|builtin|0.1.0|1",
	}
	got := r.query(`SELECT device_id, check_id, toString(observed_at), toString(status), toString(check_version), pack, pack_version,
		rows, reason, error, toString(duration_ms), engine, agent_version, toString(envelope_seq) FROM results FINAL ORDER BY check_id`)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n got %q\nwant %q", got, want)
	}
	if got := r.query("SELECT device_id, hostname, toString(uptime_s), toString(spool_depth) FROM heartbeats FINAL"); len(got) != 1 || got[0] != "d-laptop-1|laptop-1|99|2" {
		t.Errorf("heartbeats: %q", got)
	}
	if got := r.query("SELECT device_id, toString(dropped), reason FROM gaps FINAL"); len(got) != 1 || got[0] != "d-laptop-1|4|spool full" {
		t.Errorf("gaps: %q", got)
	}
	if p, ack := r.drained(); p != 0 || ack != 0 {
		t.Errorf("after ingest: %d pending, %d unacknowledged", p, ack)
	}
}

// TestRowsAreStoredAsBefore: ingest stores the rows JSON as received when
// it is what the store would have written anyway, and otherwise what the
// store wrote before ingest stopped decoding rows: absent or null rows as
// "[]", anything else compacted with sorted keys.
func TestRowsAreStoredAsBefore(t *testing.T) {
	r := newRig(t, chtest.Database(t))
	raws := []string{
		"", // absent
		"null",
		"[]",
		`[{"compliant":"0","path":"C:\\x \u003c"}]`,
		"[ {\"path\": \"/\", \"compliant\" : \"1\"},\n{} ]",
		`[{"b":"1","a":"2","a":"3"}]`,
	}
	// The envelope is encoded with placeholder rows that are then swapped
	// for the raw text under test; the agent would never write most of it.
	e := envelope(r.dev.id, 1)
	for i := range raws {
		res := result(fmt.Sprintf("check_%d", i), evidence.StatusPass, t0)
		res.Rows = []map[string]string{{"placeholder": fmt.Sprint(i)}}
		e.Results = append(e.Results, res)
	}
	body := string(mustMarshal(t, e))
	for i, raw := range raws {
		placeholder := fmt.Sprintf(`"rows":[{"placeholder":"%d"}],`, i)
		replacement := ""
		if raw != "" {
			replacement = `"rows":` + raw + ","
		}
		if !strings.Contains(body, placeholder) {
			t.Fatalf("no %s in %s", placeholder, body)
		}
		body = strings.Replace(body, placeholder, replacement, 1)
	}
	r.publish(evidence.Subject(e.DeviceID, "results"), []byte(body), r.dev.kp, e.MsgID())
	r.waitFor("the envelope", func(s ingest.Stats) bool { return s.Results == uint64(len(raws)) || s.DeadLetters > 0 })
	want := []string{
		"check_0|[]",
		"check_1|[]",
		"check_2|[]",
		`check_3|[{"compliant":"0","path":"C:\\x \u003c"}]`,
		`check_4|[{"compliant":"1","path":"/"},{}]`,
		`check_5|[{"a":"3","b":"1"}]`,
	}
	if got := r.query("SELECT check_id, rows FROM results FINAL ORDER BY check_id"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored rows:\n got %q\nwant %q", got, want)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStoppingStoresWhatWasFetched: Run fetches the next batch while it
// stores the current one; when it stops, every batch it fetched is stored
// and acknowledged, none left for AckWait to hand to another collector.
func TestStoppingStoresWhatWasFetched(t *testing.T) {
	r := newIdleRig(t, chtest.Database(t))
	const n = 40
	for seq := uint64(1); seq <= n; seq++ {
		r.publishEnvelope(envelope(r.dev.id, seq, result("disk_encryption", evidence.StatusPass, t0.Add(time.Duration(seq)*time.Second))), r.dev.kp)
	}
	in, stop := r.start(ingest.Options{BatchSize: 2, MaxWait: 100 * time.Millisecond})
	defer stop()
	r.in = in
	r.waitFor("a first batch", func(s ingest.Stats) bool { return s.Envelopes > 0 })
	stop()
	s := in.Stats()
	if s.Retries != 0 || s.DeadLetters != 0 {
		t.Fatalf("stats %+v", s)
	}
	p, ack := r.drained()
	if ack != 0 {
		t.Errorf("after stopping: %d messages fetched but not acknowledged", ack)
	}
	if p+s.Envelopes != n {
		t.Errorf("after stopping: %d pending + %d stored, want %d", p, s.Envelopes, n)
	}
	if got := r.query("SELECT toString(count()) FROM results FINAL"); got[0] != fmt.Sprint(s.Results) {
		t.Errorf("results stored: %s, counted %d", got[0], s.Results)
	}
}

func TestRedeliveredEnvelopeNeverCountsTwice(t *testing.T) {
	r := newRig(t, chtest.Database(t))
	e := envelope(r.dev.id, 7, result("disk_encryption", evidence.StatusPass, t0), result("firewall", evidence.StatusFail, t0))
	body, _ := json.Marshal(e)
	// Different message ids get past JetStream's de-duplication, as a
	// re-send after the window or a replay would; storage must collapse them.
	for i := 0; i < 3; i++ {
		r.publish(evidence.Subject(r.dev.id, "results"), body, r.dev.kp, fmt.Sprintf("replay-%d", i))
	}
	r.waitFor("3 envelopes", func(s ingest.Stats) bool { return s.Envelopes == 3 })
	if got := r.query("SELECT toString(count()) FROM results FINAL"); got[0] != "2" {
		t.Errorf("results after 3 deliveries: %s, want 2", got[0])
	}
	if got := r.query("SELECT toString(uniqExact(device_id, check_id, observed_at)) FROM results"); got[0] != "2" {
		t.Errorf("distinct natural keys: %s", got[0])
	}
	latest, err := r.st.LatestResults(context.Background(), time.Now())
	if err != nil || len(latest) != 2 {
		t.Fatalf("latest: %v %+v", err, latest)
	}
}

func TestBadInputIsDeadLetteredWithItsReason(t *testing.T) {
	r := newRig(t, chtest.Database(t))
	stranger := newDevice(t, "d-stranger")
	other := newDevice(t, "d-laptop-2")
	r.enroll(other)
	good := func(seq uint64) evidence.Envelope {
		return envelope(r.dev.id, seq, result("disk_encryption", evidence.StatusPass, t0))
	}
	marshal := func(e evidence.Envelope) []byte { b, _ := json.Marshal(e); return b }
	subj := evidence.Subject(r.dev.id, "results")

	future := good(3)
	future.Results[0].ObservedAt = time.Now().Add(48 * time.Hour)
	schema := good(4)
	schema.Schema = 99
	// Rows stay undecoded JSON in ingest; what decoding them into
	// evidence.Result refused must still be refused.
	badRows := func(seq uint64, rows string) []byte {
		body := string(marshal(good(seq)))
		const want = `"rows":[{"compliant":"0","path":"/"}]`
		if !strings.Contains(body, want) {
			t.Fatalf("envelope JSON has no %s: %s", want, body)
		}
		return []byte(strings.Replace(body, want, `"rows":`+rows, 1))
	}
	cases := []struct {
		name    string
		subject string
		body    []byte
		signer  nkeys.KeyPair
		reason  string
	}{
		{"malformed json", subj, []byte("{not json"), r.dev.kp, ingest.ReasonMalformed},
		{"unknown schema", subj, marshal(schema), r.dev.kp, ingest.ReasonUnknownSchema},
		{"dated far in the future", subj, marshal(future), r.dev.kp, ingest.ReasonInvalid},
		{"another device's subject", evidence.Subject(other.id, "results"), marshal(good(5)), r.dev.kp, ingest.ReasonSubjectMismatch},
		{"signed by another enrolled device", subj, marshal(good(6)), other.kp, ingest.ReasonBadSignature},
		{"unsigned", subj, marshal(good(7)), nil, ingest.ReasonBadSignature},
		{"unknown device", evidence.Subject(stranger.id, "results"), marshal(envelope(stranger.id, 1, result("x", evidence.StatusPass, t0))), stranger.kp, ingest.ReasonUnknownDevice},
		{"too large", subj, append(marshal(good(8)), make([]byte, 70<<10)...), r.dev.kp, ingest.ReasonTooLarge},
		{"subject outside the scheme", "evidence.v1.a.b.c", marshal(good(9)), r.dev.kp, ingest.ReasonBadSubject},
		{"rows an object", subj, badRows(10, `{"path":"/"}`), r.dev.kp, ingest.ReasonMalformed},
		{"rows of strings", subj, badRows(11, `["/"]`), r.dev.kp, ingest.ReasonMalformed},
		{"rows with a number value", subj, badRows(12, `[{"compliant":0}]`), r.dev.kp, ingest.ReasonMalformed},
		{"rows with a nested object", subj, badRows(13, `[{"path":{"a":"b"}}]`), r.dev.kp, ingest.ReasonMalformed},
	}
	for i, c := range cases {
		r.publish(c.subject, c.body, c.signer, fmt.Sprintf("bad-%d", i))
	}
	// A good envelope after the bad ones proves ingest kept going.
	r.publishEnvelope(good(100), r.dev.kp)
	r.waitFor("all messages", func(s ingest.Stats) bool { return s.DeadLetters == uint64(len(cases)) && s.Results == 1 })

	got := r.query("SELECT msg_id, reason FROM dead_letters FINAL ORDER BY stream_seq")
	if len(got) != len(cases) {
		t.Fatalf("dead letters: %q", got)
	}
	for i, c := range cases {
		if !strings.HasPrefix(got[i], fmt.Sprintf("bad-%d|%s:", i, c.reason)) {
			t.Errorf("%s: dead letter %q, want reason %s", c.name, got[i], c.reason)
		}
	}
	if p, ack := r.drained(); p != 0 || ack != 0 {
		t.Errorf("bad input was not acknowledged: %d pending, %d unacknowledged", p, ack)
	}
	if got := r.query("SELECT toString(count()) FROM results FINAL"); got[0] != "1" {
		t.Errorf("results: %s, want only the good one", got[0])
	}
}

func TestClickHouseOutageKeepsMessagesInJetStreamUntilItReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a ClickHouse server")
	}
	ctx := context.Background()
	chtest.Server(t) // skips or fails consistently when ClickHouse is missing
	ch, err := chserver.Start(ctx, chserver.Options{Dir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop(context.Background()) })
	r := newRig(t, "clickhouse://"+ch.Addr()+"/outage")

	r.publishEnvelope(envelope(r.dev.id, 1, result("disk_encryption", evidence.StatusPass, t0)), r.dev.kp)
	r.waitFor("first envelope", func(s ingest.Stats) bool { return s.Results == 1 })

	if err := ch.Kill(); err != nil {
		t.Fatal(err)
	}
	<-ch.Done()
	for seq := uint64(2); seq <= 6; seq++ {
		r.publishEnvelope(envelope(r.dev.id, seq, result("disk_encryption", evidence.StatusFail, t0.Add(time.Duration(seq)*time.Minute))), r.dev.kp)
	}
	r.waitFor("a failed insert", func(s ingest.Stats) bool { return s.Retries >= 2 })
	if s := r.in.Stats(); s.Results != 1 {
		t.Fatalf("stored %d results while ClickHouse was down", s.Results)
	}
	if p, ack := r.pending(); p+uint64(ack) != 5 {
		t.Fatalf("during the outage JetStream holds %d pending + %d unacknowledged, want 5", p, ack)
	}
	if err := ch.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	r.waitFor("the backlog", func(s ingest.Stats) bool { return s.Results == 6 })
	if got := r.query("SELECT toString(count()) FROM results FINAL"); got[0] != "6" {
		t.Errorf("results after recovery: %s, want 6", got[0])
	}
	if p, ack := r.drained(); p != 0 || ack != 0 {
		t.Errorf("after recovery: %d pending, %d unacknowledged", p, ack)
	}
}

func TestMessageStorageRefusesIsIsolatedAndDeadLettered(t *testing.T) {
	r := newRig(t, chtest.Database(t))
	// A healthy server that refuses one row: a view that throws on it,
	// standing in for whatever a future ClickHouse might refuse.
	if err := r.st.Conn().Exec(context.Background(), `CREATE MATERIALIZED VIEW poison_guard ENGINE = Memory
		AS SELECT throwIf(check_id = 'poison') AS x FROM results`); err != nil {
		t.Fatal(err)
	}
	poison := envelope(r.dev.id, 2, result("poison", evidence.StatusPass, t0))
	r.publishEnvelope(envelope(r.dev.id, 1, result("disk_encryption", evidence.StatusPass, t0)), r.dev.kp)
	r.publishEnvelope(poison, r.dev.kp)
	r.publishEnvelope(envelope(r.dev.id, 3, result("firewall", evidence.StatusFail, t0)), r.dev.kp)
	r.waitFor("the good envelopes and one dead letter", func(s ingest.Stats) bool { return s.Results == 2 && s.DeadLetters == 1 })
	got := r.query("SELECT msg_id, reason FROM dead_letters FINAL")
	if len(got) != 1 || !strings.HasPrefix(got[0], poison.MsgID()+"|"+ingest.ReasonStoreRejected+":") {
		t.Errorf("dead letters: %q", got)
	}
	// The view fails after the table took the row (ClickHouse writes the
	// table before its views), so only the good checks are counted here.
	if got := r.query("SELECT toString(count()) FROM results FINAL WHERE check_id != 'poison'"); got[0] != "2" {
		t.Errorf("results: %s, want the 2 good ones", got[0])
	}
	if p, ack := r.drained(); p != 0 || ack != 0 {
		t.Errorf("%d pending, %d unacknowledged", p, ack)
	}
}

// Signatures are verified a batch at a time; a batch holding bad ones is
// verified again one by one, so the good envelopes around them are
// stored and only the bad are dead-lettered, whatever is wrong with them.
func TestABatchWithBadSignaturesStoresTheRest(t *testing.T) {
	r := newIdleRig(t, chtest.Database(t))
	other := newDevice(t, "d-laptop-2")
	r.enroll(other)
	marshal := func(e evidence.Envelope) []byte { b, _ := json.Marshal(e); return b }
	good := 0
	for seq := uint64(1); seq <= 24; seq++ {
		d := r.dev
		if seq%3 == 0 {
			d = other
		}
		e := envelope(d.id, seq, result("disk_encryption", evidence.StatusPass, t0.Add(time.Duration(seq)*time.Minute)))
		subj := evidence.Subject(d.id, "results")
		switch seq {
		case 5: // signed by the other device's key
			r.publish(subj, marshal(e), other.kp, e.MsgID())
		case 11, 17: // a header that is not a signature
			msg := nats.NewMsg(subj)
			msg.Data = marshal(e)
			msg.Header.Set(evidence.SignatureHeader, map[uint64]string{11: "not base64!", 17: "c2hvcnQ="}[seq])
			if _, err := r.js.PublishMsg(t.Context(), msg, jetstream.WithMsgID(e.MsgID())); err != nil {
				t.Fatal(err)
			}
		default:
			r.publishEnvelope(e, d.kp)
			good++
		}
	}
	r.in = r.run(ingest.Options{BatchSize: 100, MaxWait: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, MaxMessageBytes: 64 << 10})
	r.waitFor("every message", func(s ingest.Stats) bool { return s.DeadLetters == 3 && s.Results == uint64(good) })
	if s := r.in.Stats(); s.Batches != 1 {
		t.Logf("the messages came in %d batches, not one", s.Batches)
	}
	got := r.query("SELECT reason FROM dead_letters FINAL ORDER BY stream_seq")
	for _, reason := range got {
		if !strings.HasPrefix(reason, ingest.ReasonBadSignature+":") {
			t.Errorf("dead letter reason %q, want a bad signature", reason)
		}
	}
	if n := r.query("SELECT toString(count()) FROM results FINAL"); n[0] != fmt.Sprint(good) {
		t.Errorf("results stored: %s, want %d", n[0], good)
	}
}
