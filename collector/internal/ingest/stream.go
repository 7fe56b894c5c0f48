package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetproof/fleetproof/evidence"
)

// Names of the JetStream objects ingest relies on.
const (
	StreamName   = "EVIDENCE"
	ConsumerName = "collector"
)

// StreamOptions tune the evidence stream.
type StreamOptions struct {
	// MaxAge keeps raw signed envelopes this long after they were
	// ingested, so they can be re-processed.
	MaxAge time.Duration
	// Duplicates is the de-duplication window for Nats-Msg-Id.
	Duplicates time.Duration
	Replicas   int
	MaxMsgSize int32
}

// EnsureStream creates or updates the evidence stream and the shared
// durable consumer. Every collector calls it at start; the calls agree.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Consumer, error) {
	if o.MaxAge == 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.Duplicates == 0 {
		o.Duplicates = time.Hour
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxMsgSize == 0 {
		o.MaxMsgSize = 4 << 20
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       StreamName,
		Subjects:   []string{evidence.SubjectWildcard},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     o.MaxAge,
		Duplicates: o.Duplicates,
		Replicas:   o.Replicas,
		MaxMsgSize: o.MaxMsgSize,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: stream %s: %w", StreamName, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Durable:   ConsumerName,
		AckPolicy: jetstream.AckExplicitPolicy,
		// A crashed collector's in-flight messages return to the others after
		// this long; a batch insert takes well under a second.
		AckWait:       30 * time.Second,
		MaxAckPending: 20000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: consumer %s: %w", ConsumerName, err)
	}
	return cons, nil
}
