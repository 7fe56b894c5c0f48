package publish

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetproof/fleetproof/agent/internal/spool"
	"github.com/fleetproof/fleetproof/evidence"
)

// Spool is the part of the spool delivery uses.
type Spool interface {
	Seal(tmpl evidence.Envelope, maxResults, maxBytes int) (spool.Batch, bool, error)
	Next() (spool.Batch, bool, error)
	Ack(seq uint64) error
}

// Signer signs envelope bodies with the device key.
type Signer interface {
	Sign(data []byte) ([]byte, error)
}

// Publisher moves envelopes from a spool to JetStream.
type Publisher struct {
	Spool    Spool
	JS       jetstream.JetStream
	Signer   Signer
	Template evidence.Envelope // DeviceID, AgentVersion, Schema
	Logger   *slog.Logger
	// MaxResults and MaxBytes bound one envelope.
	MaxResults int
	MaxBytes   int
	// PublishTimeout bounds the wait for one acknowledgement.
	PublishTimeout time.Duration
	MaxBackoff     time.Duration
}

func (p *Publisher) defaults() {
	if p.MaxResults == 0 {
		p.MaxResults = 500
	}
	if p.MaxBytes == 0 {
		p.MaxBytes = 1 << 20
	}
	if p.PublishTimeout == 0 {
		p.PublishTimeout = 10 * time.Second
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = 5 * time.Minute
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
}

// Flush publishes until the spool is empty, returning how many envelopes
// were acknowledged. It stops at the first failure; what was not
// acknowledged stays in the spool.
func (p *Publisher) Flush(ctx context.Context) (int, error) {
	p.defaults()
	sent := 0
	for ctx.Err() == nil {
		b, ok, err := p.Spool.Next()
		if err != nil {
			return sent, fmt.Errorf("publish: %w", err)
		}
		if !ok {
			b, ok, err = p.Spool.Seal(p.Template, p.MaxResults, p.MaxBytes)
			if err != nil {
				return sent, fmt.Errorf("publish: %w", err)
			}
			if !ok {
				return sent, nil
			}
		}
		if err := p.send(ctx, b); err != nil {
			return sent, err
		}
		if err := p.Spool.Ack(b.Seq); err != nil {
			return sent, fmt.Errorf("publish: %w", err)
		}
		sent++
	}
	return sent, ctx.Err()
}

func (p *Publisher) send(ctx context.Context, b spool.Batch) error {
	sig, err := p.Signer.Sign(b.Body)
	if err != nil {
		return fmt.Errorf("publish: sign: %w", err)
	}
	msg := nats.NewMsg(b.Subject)
	msg.Data = b.Body
	msg.Header.Set(evidence.SignatureHeader, evidence.EncodeSignature(sig))
	pctx, cancel := context.WithTimeout(ctx, p.PublishTimeout)
	defer cancel()
	ack, err := p.JS.PublishMsg(pctx, msg, jetstream.WithMsgID(b.MsgID))
	if err != nil {
		return fmt.Errorf("publish: envelope %s: %w", b.MsgID, err)
	}
	if ack.Duplicate {
		p.Logger.Debug("envelope was already stored", "msg_id", b.MsgID)
	}
	return nil
}

// Run flushes whenever wake fires or every interval, backing off with
// jitter while publishing fails, until ctx ends.
func (p *Publisher) Run(ctx context.Context, wake <-chan struct{}, interval time.Duration) {
	p.defaults()
	backoff := time.Duration(0)
	for {
		n, err := p.Flush(ctx)
		wait := interval
		if err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, time.Second), p.MaxBackoff)
			// Full jitter spreads a fleet reconnecting after an outage.
			wait = time.Duration(rand.Int64N(int64(backoff))) + backoff/2
			p.Logger.Warn("delivery failed; results stay spooled", "sent", n, "retry_in", wait.Round(time.Millisecond), "err", err)
		} else {
			backoff = 0
		}
		// New results do not cut a backoff short: during an outage every
		// check would otherwise retry the connection.
		w := wake
		if backoff > 0 {
			w = nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w:
			t.Stop()
		case <-t.C:
		}
	}
}
