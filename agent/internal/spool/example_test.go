package spool_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/spool"
	"github.com/fleetproof/fleetproof/evidence"
)

// The publisher's cycle: results are durable on Append, get their identity
// on Seal, and are removed only once JetStream acknowledged them.
func Example() {
	dir, err := os.MkdirTemp("", "spool-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	sp, err := spool.Open(spool.Options{Path: filepath.Join(dir, "spool.db")})
	if err != nil {
		panic(err)
	}
	defer sp.Close()

	// The scheduler records a check run before any network I/O.
	if err := sp.Append(evidence.Result{
		CheckID: "disk_encryption", CheckVersion: 1, Pack: "fleetproof-core", PackVersion: "1.0.0",
		ObservedAt: time.Now(), Status: evidence.StatusPass,
	}); err != nil {
		panic(err)
	}

	// The publisher delivers the oldest sealed envelope, sealing one when
	// the outbox is empty.
	b, ok, err := sp.Next()
	if err == nil && !ok {
		b, ok, err = sp.Seal(evidence.Envelope{DeviceID: "laptop-1", AgentVersion: "0.1.0"}, 500, 1<<20)
	}
	if err != nil || !ok {
		panic(fmt.Sprint(ok, err))
	}
	fmt.Println(b.Subject, b.MsgID, b.Results)

	// Publish failed or the ack was lost: the retry sends the same bytes
	// under the same Nats-Msg-Id, so JetStream keeps one copy.
	retry, _, _ := sp.Next()
	fmt.Println(retry.MsgID, bytes.Equal(retry.Body, b.Body))

	// JetStream acknowledged: now, and only now, the evidence leaves the device.
	if err := sp.Ack(b.Seq); err != nil {
		panic(err)
	}
	_, ok, _ = sp.Next()
	fmt.Println(ok, sp.Stats().Pending)
	// Output:
	// evidence.v1.laptop-1.results laptop-1-1 1
	// laptop-1-1 true
	// false 0
}
