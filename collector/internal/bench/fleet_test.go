package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/chtest"
	"github.com/fleetproof/fleetproof/collector/internal/natsd"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
	"github.com/fleetproof/fleetproof/queries"
)

func TestMain(m *testing.M) { chtest.Main(m) }

const (
	// resultsPerEnvelope is one device's hourly run: the agent seals what
	// its scheduler produced since the last flush into one envelope.
	resultsPerEnvelope = 20
	// fleetSize devices publish, each with its own enrolled key, so the
	// ingester's per-device key lookup and cache are exercised as in a fleet.
	fleetSize = 1000
	// historyHours is how far back observations start. Every envelope of a
	// device is one hour later than the previous, so a long run never dates
	// results in the future (which ingest rightly dead-letters).
	historyHours = 24 * 30
)

// rowsByCheck is what each catalog check's osquery SQL returns on a
// typical Linux laptop, in osquery's all-strings form; it gives stored
// results realistic widths.
var rowsByCheck = map[string][]map[string]string{
	"disk_encryption":    {{"path": "/", "device_alias": "/dev/dm-1", "encrypted": "1", "type": "LUKS2-aes-xts-plain64", "compliant": "1"}},
	"firewall":           {{"chain": "INPUT", "policy": "DROP", "blocking_rules": "4", "compliant": "1"}},
	"malware_protection": {{"name": "clamav-daemon", "status": "running", "signatures_age_days": "1", "compliant": "1"}},
	"os_auto_updates":    {{"installed": "1", "enabled": "1", "update_package_lists": "1", "compliant": "1"}},
	"os_patch_currency":  {{"last_success": "1718000000", "days_behind": "2", "compliant": "1"}},
	"screen_lock":        {{"desktop": "gnome", "lock_enabled": "1", "idle_delay_seconds": "300", "lock_delay_seconds": "0", "compliant": "1"}},
}

// device is one simulated enrolled agent.
type device struct {
	id  string
	kp  nkeys.KeyPair
	seq uint64
}

// fleet makes the envelopes a fleet of agents would send, round-robin
// over its devices, encoded and signed as agent/internal/publish does.
type fleet struct {
	devices []*device
	checks  []queries.Check
	pack    queries.Pack
	base    time.Time
	next    int
}

func newFleet(tb testing.TB, n int) *fleet {
	tb.Helper()
	cat, err := queries.Load()
	if err != nil {
		tb.Fatal(err)
	}
	f := &fleet{checks: cat.ForPlatform("linux"), pack: cat.Pack,
		base: time.Now().UTC().Truncate(time.Hour).Add(-historyHours * time.Hour)}
	for i := range n {
		kp, err := nkeys.CreateUser()
		if err != nil {
			tb.Fatal(err)
		}
		f.devices = append(f.devices, &device{id: fmt.Sprintf("bench-%05d", i), kp: kp})
	}
	return f
}

// enroll records every device's public key the way enrollment does.
func (f *fleet) enroll(ctx context.Context, st *store.Store) error {
	now := time.Now().UTC().Truncate(time.Second)
	for _, d := range f.devices {
		pub, err := d.kp.PublicKey()
		if err != nil {
			return err
		}
		if err := st.UpsertDevice(ctx, store.Device{DeviceID: d.id, PublicKey: pub, Hostname: d.id + ".corp.example",
			OS: "linux", Platform: "debian", PlatformVersion: "12", Arch: "amd64", AgentVersion: "0.1.0",
			EnrolledAt: now, UpdatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// envelope builds the next device's next envelope: twenty results of the
// catalog's Linux checks, each with the rows, reason and duration a real
// run records, plus the heartbeat the agent attaches.
func (f *fleet) envelope() (evidence.Envelope, *device) {
	d := f.devices[f.next]
	f.next = (f.next + 1) % len(f.devices)
	d.seq++
	hour := f.base.Add(time.Duration(d.seq%historyHours) * time.Hour)
	// Devices run their schedule at different minutes of the hour.
	start := hour.Add(time.Duration(f.next) * 3 * time.Second)
	e := evidence.Envelope{Schema: evidence.SchemaVersion, DeviceID: d.id, AgentVersion: "0.1.0", Seq: d.seq,
		SentAt: start.Add(2 * time.Minute), Results: make([]evidence.Result, 0, resultsPerEnvelope),
		Heartbeat: &evidence.Heartbeat{ObservedAt: start.Add(time.Minute), Hostname: d.id + ".corp.example",
			UptimeS: int64(86400 + d.seq*3600), SpoolDepth: 0, ChecksKnown: len(f.checks)}}
	for i := range resultsPerEnvelope {
		c := f.checks[i%len(f.checks)]
		rows := rowsByCheck[c.ID]
		if rows == nil {
			rows = rowsByCheck["disk_encryption"]
		}
		status, reason := evidence.StatusPass, fmt.Sprintf("%d of %d rows compliant", len(rows), len(rows))
		if (int(d.seq)+i)%9 == 0 {
			status, reason = evidence.StatusFail, fmt.Sprintf("0 of %d rows compliant", len(rows))
		}
		e.Results = append(e.Results, evidence.Result{CheckID: c.ID, CheckVersion: c.Version, Pack: f.pack.Name,
			PackVersion: f.pack.Version, ObservedAt: start.Add(time.Duration(i)*1500*time.Millisecond + 123456789),
			Status: status, Rows: rows, Reason: reason, DurationMS: int64(5 + (i*37)%90), Engine: "osquery"})
	}
	return e, d
}

// signed is an envelope ready to publish: body, signature header and the
// de-duplication id, exactly as the agent's publisher sends it.
type signed struct {
	msg   *nats.Msg
	msgID string
}

func (f *fleet) signed() (signed, error) {
	e, d := f.envelope()
	body, err := json.Marshal(e)
	if err != nil {
		return signed{}, err
	}
	sig, err := d.kp.Sign(body)
	if err != nil {
		return signed{}, err
	}
	msg := nats.NewMsg(evidence.Subject(e.DeviceID, "results"))
	msg.Data = body
	msg.Header.Set(evidence.SignatureHeader, evidence.EncodeSignature(sig))
	return signed{msg: msg, msgID: e.MsgID()}, nil
}

// publishAll publishes envelopes asynchronously (as many agents at once
// would) and waits until JetStream has acknowledged every one.
func publishAll(js jetstream.JetStream, envs []signed) error {
	for _, s := range envs {
		if _, err := js.PublishMsgAsync(s.msg, jetstream.WithMsgID(s.msgID)); err != nil {
			return fmt.Errorf("publish %s: %w", s.msgID, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("publish: %d acknowledgements still pending after 2m", js.PublishAsyncPending())
	}
}

// startNATS runs the embedded server on a loopback port with JetStream
// file storage in a temp dir, as the collector does by default.
func startNATS(tb testing.TB) *natsd.Server {
	tb.Helper()
	ns, err := natsd.Start(natsd.Options{StoreDir: tb.TempDir(), Listen: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ns.Shutdown)
	return ns
}

// connectJS opens a client connection; every publish error is counted
// into errs, since async publishes report failures out of band.
func connectJS(tb testing.TB, url string, errs *atomic.Int64) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(url, nats.Name("bench"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { errs.Add(1) }))
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// dropFirst drops the benchmark's big tables when it ends, before the
// store is closed and before chtest drops the database (cleanups run last
// registered first): dropping millions of rows while ClickHouse merges
// them can outlast chtest's 30 s on a busy machine.
func dropFirst(tb testing.TB, st *store.Store, tables ...string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, t := range tables {
			if err := st.Conn().Exec(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				tb.Errorf("drop %s: %v", t, err)
			}
		}
	})
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}
