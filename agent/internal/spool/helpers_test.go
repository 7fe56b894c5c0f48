package spool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fleetproof/fleetproof/evidence"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const device = "dev-1"

var tmpl = evidence.Envelope{DeviceID: device, AgentVersion: "0.1.0-test"}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// result i is observed i minutes after at; fixed-width ids give every
// result the same encoded size, so byte bounds can be set in results.
func result(i int, at time.Time) evidence.Result {
	return evidence.Result{
		CheckID: fmt.Sprintf("check-%06d", i), CheckVersion: 1, Pack: "core", PackVersion: "1.0.0",
		ObservedAt: at.Add(time.Duration(i) * time.Minute), Status: evidence.StatusPass,
		Rows: []map[string]string{{"path": "/", "encrypted": "1"}}, DurationMS: 3, Engine: "builtin",
	}
}

func resultSize(t testing.TB) int64 {
	v, err := json.Marshal(result(0, t0))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(v))
}

type fixture struct {
	sp    *Spool
	path  string
	clock *clock
	logs  *syncBuffer
	opts  Options
}

// open opens a spool in a fresh directory with a fake clock at t0 and
// captured warn-level logs; opts.Path, Now and Logger are filled in.
func open(t testing.TB, opts Options) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: t0}, logs: &syncBuffer{}}
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "spool.db")
	}
	opts.Now = f.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f.opts, f.path = opts, opts.Path
	f.reopen(t)
	return f
}

// reopen opens the spool file (again), closing the previous handle if any.
func (f *fixture) reopen(t testing.TB) {
	t.Helper()
	if f.sp != nil {
		if err := f.sp.Close(); err != nil {
			t.Fatal(err)
		}
	}
	sp, err := Open(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.sp = sp
	t.Cleanup(func() { _ = sp.Close() })
}

func (f *fixture) append(t testing.TB, rs ...evidence.Result) {
	t.Helper()
	if err := f.sp.Append(rs...); err != nil {
		t.Fatal(err)
	}
}

// seal seals with the given limits and decodes the envelope, validating it
// as the collector would.
func (f *fixture) seal(t testing.TB, maxResults, maxBytes int) (Batch, *evidence.Envelope) {
	t.Helper()
	b, ok, err := f.sp.Seal(tmpl, maxResults, maxBytes)
	if err != nil || !ok {
		t.Fatalf("Seal = ok %v, err %v", ok, err)
	}
	return b, decode(t, b.Body, f.clock.Now())
}

func decode(t testing.TB, body []byte, now time.Time) *evidence.Envelope {
	t.Helper()
	env, err := evidence.Decode(body, now)
	if err != nil {
		t.Fatalf("sealed envelope does not decode: %v\n%s", err, body)
	}
	return env
}

// drain seals, delivers and acks everything in the spool, returning how
// often each check id was delivered and the envelopes in delivery order.
func drain(t testing.TB, sp *Spool, now time.Time) (map[string]int, []*evidence.Envelope) {
	t.Helper()
	seen := map[string]int{}
	var envs []*evidence.Envelope
	var lastSeq uint64
	for {
		b, ok, err := sp.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if b, ok, err = sp.Seal(tmpl, 100, 0); err != nil {
				t.Fatal(err)
			}
			if !ok {
				return seen, envs
			}
		}
		if b.Seq <= lastSeq {
			t.Fatalf("delivered seq %d after %d", b.Seq, lastSeq)
		}
		lastSeq = b.Seq
		env := decode(t, b.Body, now)
		for _, r := range env.Results {
			seen[r.CheckID]++
		}
		envs = append(envs, env)
		if err := sp.Ack(b.Seq); err != nil {
			t.Fatal(err)
		}
	}
}

// putRaw writes a value straight into a bucket of a closed spool file, as
// disk corruption or a buggy older version would have left it.
func putRaw(t testing.TB, path string, bucket []byte, key uint64, value []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if key == 0 {
			var err error
			if key, err = b.NextSequence(); err != nil {
				return err
			}
		}
		return b.Put(u64(key), value)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkFile runs bbolt's consistency check over the whole file.
func checkFile(t testing.TB, sp *Spool) {
	t.Helper()
	err := sp.db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker blocks on send
			if first == nil {
				first = err
			}
		}
		return first
	})
	if err != nil {
		t.Fatalf("bbolt consistency check: %v", err)
	}
}
