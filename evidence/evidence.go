package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// SchemaVersion is the envelope schema this package writes and the newest it reads.
const SchemaVersion = 1

// Header names set on every NATS message carrying an envelope.
const (
	// SignatureHeader holds base64 (standard, padded) of the ed25519
	// signature over the message body.
	SignatureHeader = "Fleetproof-Signature"
	// MsgIDHeader is JetStream's de-duplication header; its value is MsgID.
	MsgIDHeader = "Nats-Msg-Id"
)

// Status is the outcome of one check run.
type Status string

const (
	StatusPass          Status = "pass"
	StatusFail          Status = "fail"
	StatusError         Status = "error"
	StatusNotApplicable Status = "not_applicable"
)

// Valid reports whether s is one of the statuses of this schema.
func (s Status) Valid() bool {
	switch s {
	case StatusPass, StatusFail, StatusError, StatusNotApplicable:
		return true
	}
	return false
}

// Envelope is one message from an agent: a batch of results, and optionally
// a heartbeat and the gaps its spool had to record.
type Envelope struct {
	Schema       int    `json:"schema"`
	DeviceID     string `json:"device_id"`
	AgentVersion string `json:"agent_version"`
	// Seq increases by one for every envelope a device sends; with DeviceID
	// it names the envelope (MsgID), so a resend is recognised as such.
	Seq       uint64     `json:"seq"`
	SentAt    time.Time  `json:"sent_at"`
	Results   []Result   `json:"results,omitempty"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	Gaps      []Gap      `json:"gaps,omitempty"`
}

// Result is one run of one check on one device.
type Result struct {
	CheckID      string    `json:"check_id"`
	CheckVersion int       `json:"check_version"`
	Pack         string    `json:"pack"`
	PackVersion  string    `json:"pack_version"`
	ObservedAt   time.Time `json:"observed_at"`
	Status       Status    `json:"status"`
	// Rows are what the query returned, as osquery returns them (every
	// value a string): the detail that explains the status.
	Rows []map[string]string `json:"rows,omitempty"`
	// Reason is a one-line human explanation of the status.
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	// Engine says what answered the query: "osquery" or "builtin".
	Engine string `json:"engine,omitempty"`
}

// Heartbeat says the agent is alive even when no check is due.
type Heartbeat struct {
	ObservedAt  time.Time `json:"observed_at"`
	Hostname    string    `json:"hostname,omitempty"`
	UptimeS     int64     `json:"uptime_s,omitempty"`
	SpoolDepth  int       `json:"spool_depth"`
	ChecksKnown int       `json:"checks_known,omitempty"`
}

// Gap records evidence the agent's spool had to drop, so the hole is
// visible instead of silent.
type Gap struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Dropped int       `json:"dropped"`
	Reason  string    `json:"reason"`
}

// MinObservedAt is the earliest observation time accepted: anything
// before it is a broken clock, and ClickHouse's DateTime cannot store
// times before 1970 (they would wrap to the 2090s).
var MinObservedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxFutureSkew is how far in the future an observation may be dated before
// the collector rejects it; device clocks drift, but not by this much.
const MaxFutureSkew = time.Hour

var deviceIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// ValidDeviceID reports whether id can be a device id: it becomes a NATS
// subject token, so dots, wildcards and spaces are excluded.
func ValidDeviceID(id string) bool { return deviceIDRe.MatchString(id) }

// Subject is where a device publishes an envelope of the given kind
// ("results" or "heartbeat").
func Subject(deviceID, kind string) string {
	return "evidence.v1." + deviceID + "." + kind
}

// InboxPrefix is the reply-inbox prefix a device uses for its NATS
// connection (nats.go's CustomInboxPrefix). A device's credentials allow
// it to subscribe only below its own prefix, so it cannot read other
// devices' publish acknowledgements.
func InboxPrefix(deviceID string) string { return "_INBOX_" + deviceID }

// SubjectWildcard matches every device's evidence subjects.
const SubjectWildcard = "evidence.v1.>"

// MsgID is the JetStream de-duplication id of an envelope.
func (e *Envelope) MsgID() string { return fmt.Sprintf("%s-%d", e.DeviceID, e.Seq) }

// Errors a decoded envelope may fail with; collectors use them as
// dead-letter reasons.
var (
	ErrMalformed     = errors.New("malformed envelope")
	ErrUnknownSchema = errors.New("unknown schema version")
	ErrInvalid       = errors.New("invalid envelope")
)

// Decode parses an envelope and validates it against now. The error wraps
// one of ErrMalformed, ErrUnknownSchema or ErrInvalid.
func Decode(data []byte, now time.Time) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := e.Validate(now); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks what a collector must be able to rely on.
func (e *Envelope) Validate(now time.Time) error {
	if e.Schema < 1 || e.Schema > SchemaVersion {
		return fmt.Errorf("%w: %d (this build reads 1..%d)", ErrUnknownSchema, e.Schema, SchemaVersion)
	}
	if !ValidDeviceID(e.DeviceID) {
		return fmt.Errorf("%w: device_id %q", ErrInvalid, e.DeviceID)
	}
	if len(e.Results) == 0 && e.Heartbeat == nil && len(e.Gaps) == 0 {
		return fmt.Errorf("%w: no results, heartbeat or gaps", ErrInvalid)
	}
	limit := now.Add(MaxFutureSkew)
	for i, r := range e.Results {
		switch {
		case r.CheckID == "":
			return fmt.Errorf("%w: result %d: empty check_id", ErrInvalid, i)
		case !r.Status.Valid():
			return fmt.Errorf("%w: result %d (%s): status %q", ErrInvalid, i, r.CheckID, r.Status)
		case r.ObservedAt.IsZero():
			return fmt.Errorf("%w: result %d (%s): observed_at missing", ErrInvalid, i, r.CheckID)
		case r.ObservedAt.Before(MinObservedAt):
			return fmt.Errorf("%w: result %d (%s): observed_at %s is before %s", ErrInvalid, i, r.CheckID, r.ObservedAt.Format(time.RFC3339), MinObservedAt.Format(time.DateOnly))
		case r.ObservedAt.After(limit):
			return fmt.Errorf("%w: result %d (%s): observed_at %s is in the future", ErrInvalid, i, r.CheckID, r.ObservedAt.Format(time.RFC3339))
		}
	}
	if h := e.Heartbeat; h != nil && (h.ObservedAt.Before(MinObservedAt) || h.ObservedAt.After(limit)) {
		return fmt.Errorf("%w: heartbeat observed_at %s", ErrInvalid, h.ObservedAt.Format(time.RFC3339))
	}
	for i, g := range e.Gaps {
		if g.Dropped <= 0 || g.To.Before(g.From) || g.From.Before(MinObservedAt) {
			return fmt.Errorf("%w: gap %d: dropped %d from %s to %s", ErrInvalid, i, g.Dropped, g.From, g.To)
		}
	}
	return nil
}
