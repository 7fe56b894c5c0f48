package enroll

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/fleetproof/fleetproof/collector/internal/sigbatch"
	"github.com/fleetproof/fleetproof/collector/internal/store"
	"github.com/fleetproof/fleetproof/evidence"
)

// Devices is the storage enrollment needs.
type Devices interface {
	Device(ctx context.Context, id string) (store.Device, error)
	UpsertDevice(ctx context.Context, d store.Device) error
	Revoked(ctx context.Context, deviceID string) (bool, error)
	RecordEnrollment(ctx context.Context, e store.EnrollmentEvent) error
}

// Handler serves evidence.EnrollPath.
type Handler struct {
	// Secrets lists the enroll secrets accepted now; more than one is valid
	// while a secret is being rotated.
	Secrets  []string
	Devices  Devices
	NATSURLs []string
	Logger   *slog.Logger
	Now      func() time.Time
	// Enrolled, if set, is called after a device (re-)enrolled, so caches
	// of its key can be dropped.
	Enrolled func(deviceID string)
	// IssueUser, if set, issues the NATS user JWT for the device's key;
	// nil when the NATS server needs no credentials.
	IssueUser func(deviceID, publicKey string) (string, error)
	// Observe, if set, is told each request's outcome.
	Observe func(outcome string)
}

func (h *Handler) observe(outcome string) {
	if h.Observe != nil {
		h.Observe(outcome)
	}
}

// record keeps an enrollment decision as evidence. Losing one (storage
// down) must not change the answer given to the agent, so it only logs.
func (h *Handler) record(r *http.Request, req *evidence.EnrollRequest, outcome string, at time.Time) {
	err := h.Devices.RecordEnrollment(r.Context(), store.EnrollmentEvent{
		At: at, DeviceID: req.DeviceID, PublicKey: req.PublicKey, Outcome: outcome,
		Hostname: req.Host.Hostname, AgentVersion: req.AgentVersion, RemoteAddr: r.RemoteAddr,
	})
	if err != nil {
		h.log().Warn("enrollment event not recorded", "device_id", req.DeviceID, "outcome", outcome, "err", err)
	}
}

const maxBody = 64 << 10

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	var req evidence.EnrollRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&req); err != nil {
		h.observe("malformed")
		httpError(w, http.StatusBadRequest, "malformed enrollment request: "+err.Error())
		return
	}
	if !h.secretOK(req.Secret) {
		h.log().Warn("enrollment refused: bad secret", "device_id", req.DeviceID, "remote", r.RemoteAddr)
		h.observe("refused_secret")
		if evidence.ValidDeviceID(req.DeviceID) {
			h.record(r, &req, "refused_secret", time.Now().UTC())
		}
		httpError(w, http.StatusUnauthorized, "enroll secret not accepted")
		return
	}
	if err := validate(&req); err != nil {
		h.observe("invalid")
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	revoked, err := h.Devices.Revoked(r.Context(), req.DeviceID)
	if err != nil {
		h.log().Error("enrollment: revocation lookup failed", "err", err)
		httpError(w, http.StatusServiceUnavailable, "storage unavailable; retry later")
		return
	}
	if revoked {
		h.log().Warn("enrollment refused: device revoked", "device_id", req.DeviceID, "remote", r.RemoteAddr)
		h.observe("refused_revoked")
		h.record(r, &req, "refused_revoked", time.Now().UTC())
		httpError(w, http.StatusForbidden, "device "+req.DeviceID+" is revoked")
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	t := now().UTC().Truncate(time.Second)
	enrolledAt := t
	outcome := "enrolled"
	prev, err := h.Devices.Device(r.Context(), req.DeviceID)
	switch {
	case err == nil:
		enrolledAt = prev.EnrolledAt
		outcome = "re-enrolled"
		if prev.PublicKey != req.PublicKey {
			outcome = "key_changed"
			// Legitimate after a reinstall that lost the state dir; it is
			// logged because it is also what a spoofing attempt looks like.
			h.log().Warn("device re-enrolled with a new key", "device_id", req.DeviceID, "remote", r.RemoteAddr)
		}
	case !errors.Is(err, store.ErrNotFound):
		h.log().Error("enrollment: device lookup failed", "err", err)
		httpError(w, http.StatusServiceUnavailable, "storage unavailable; retry later")
		return
	}
	d := store.Device{
		DeviceID: req.DeviceID, PublicKey: req.PublicKey, Hostname: req.Host.Hostname, OS: req.Host.OS,
		Platform: req.Host.Platform, PlatformVersion: req.Host.PlatformVersion, KernelVersion: req.Host.KernelVersion,
		Arch: req.Host.Arch, HardwareUUID: req.Host.HardwareUUID, Serial: req.Host.Serial,
		AgentVersion: req.AgentVersion, Tags: req.Tags, EnrolledAt: enrolledAt, UpdatedAt: t,
	}
	var userJWT string
	if h.IssueUser != nil {
		if userJWT, err = h.IssueUser(req.DeviceID, req.PublicKey); err != nil {
			h.log().Error("enrollment: issue credentials failed", "err", err)
			httpError(w, http.StatusInternalServerError, "could not issue credentials")
			return
		}
	}
	if err := h.Devices.UpsertDevice(r.Context(), d); err != nil {
		h.log().Error("enrollment: store device failed", "err", err)
		httpError(w, http.StatusServiceUnavailable, "storage unavailable; retry later")
		return
	}
	if h.Enrolled != nil {
		h.Enrolled(req.DeviceID)
	}
	h.observe(outcome)
	h.record(r, &req, outcome, t)
	h.log().Info("device enrolled", "device_id", req.DeviceID, "hostname", req.Host.Hostname, "os", req.Host.OS)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(evidence.EnrollResponse{
		Schema: evidence.SchemaVersion, DeviceID: req.DeviceID, NATSURLs: h.NATSURLs, EnrolledAt: enrolledAt,
		UserJWT: userJWT,
	})
}

func (h *Handler) secretOK(s string) bool {
	ok := false
	for _, want := range h.Secrets {
		// Compare against every secret so timing says nothing about which.
		if want != "" && subtle.ConstantTimeCompare([]byte(s), []byte(want)) == 1 {
			ok = true
		}
	}
	return ok
}

func validate(req *evidence.EnrollRequest) error {
	switch {
	case req.Schema < 1 || req.Schema > evidence.SchemaVersion:
		return fmt.Errorf("unknown schema version %d", req.Schema)
	case !evidence.ValidDeviceID(req.DeviceID):
		return fmt.Errorf("device_id %q is not valid (letters, digits, '-' and '_', up to 128)", req.DeviceID)
	case !nkeys.IsValidPublicUserKey(req.PublicKey):
		return fmt.Errorf("public_key is not a NATS user public key")
	case !usableKey(req.PublicKey):
		return fmt.Errorf("public_key is not a usable ed25519 key (not a curve point, or of small order)")
	case req.Host.OS == "":
		return errors.New("host.os is required")
	}
	return nil
}

// usableKey reports whether a user nkey's 32 bytes are an ed25519 key
// anything could verify under: nkeys checks the encoding and refuses
// small-order points, not that the bytes are a point of the curve.
func usableKey(nkey string) bool {
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(nkey))
	if err != nil {
		return false
	}
	_, err = sigbatch.ParseKey(raw)
	return err == nil
}

func (h *Handler) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
