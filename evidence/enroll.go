package evidence

import (
	"crypto/ed25519"
	"encoding/base64"
	"time"
)

// EnrollPath is the collector's HTTP endpoint for EnrollRequest.
const EnrollPath = "/api/v1/enroll"

// EnrollRequest is what an agent presents to join the fleet.
type EnrollRequest struct {
	Schema int `json:"schema"`
	// Secret is the enroll secret distributed through MDM.
	Secret string `json:"secret"`
	// DeviceID is the id the agent derived from hardware identity.
	DeviceID string `json:"device_id"`
	// PublicKey is the device's ed25519 public key as a NATS user nkey
	// ("U..."); every envelope must verify against it.
	PublicKey    string            `json:"public_key"`
	AgentVersion string            `json:"agent_version"`
	Host         HostFacts         `json:"host"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// HostFacts describe the device at enrollment.
type HostFacts struct {
	Hostname        string `json:"hostname"`
	OS              string `json:"os"` // runtime.GOOS: darwin, windows, linux
	Platform        string `json:"platform,omitempty"`
	PlatformVersion string `json:"platform_version,omitempty"`
	KernelVersion   string `json:"kernel_version,omitempty"`
	Arch            string `json:"arch,omitempty"`
	HardwareUUID    string `json:"hardware_uuid,omitempty"`
	Serial          string `json:"serial,omitempty"`
	CPUModel        string `json:"cpu_model,omitempty"`
	CPUCores        int    `json:"cpu_cores,omitempty"`
	MemoryBytes     uint64 `json:"memory_bytes,omitempty"`
	BootTime        int64  `json:"boot_time,omitempty"`
}

// EnrollResponse tells an enrolled agent where and how to publish.
type EnrollResponse struct {
	Schema     int       `json:"schema"`
	DeviceID   string    `json:"device_id"`
	NATSURLs   []string  `json:"nats_urls"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// UserJWT is the NATS user JWT issued for PublicKey when the collector
	// runs NATS with decentralized auth (the agent signs the connection
	// nonce with its own seed, which never leaves the device); empty when
	// the NATS server needs none.
	UserJWT string `json:"user_jwt,omitempty"`
}

// EncodeSignature renders a signature for SignatureHeader.
func EncodeSignature(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

// Verify reports whether header (a SignatureHeader value) is a valid
// ed25519 signature of body by pub.
func Verify(pub ed25519.PublicKey, body []byte, header string) bool {
	sig, err := base64.StdEncoding.DecodeString(header)
	if err != nil || len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, body, sig)
}
