// Package identity gives a device its two durable names: an ed25519 key
// pair (a NATS user nkey) that signs every envelope, and a device id
// derived from hardware identity. Both live in the agent's state
// directory with owner-only permissions and are created on first start.
package identity
