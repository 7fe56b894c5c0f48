// Package auth is the collector's NATS trust chain in the decentralized
// JWT model (operator → account → user), built with nats-io/jwt and nkeys
// rather than a home-made scheme. On first start it creates an operator,
// a system account and the evidence account and keeps their seeds in the
// data dir (owner-only). Enrollment issues each device a user JWT for the
// device's own public key that may publish only to its own evidence
// subjects and read only its own reply inbox; the seed never leaves the
// device. Revoking a device adds its key to the account's revocation list,
// which the embedded server applies without a restart, closing the
// device's live connections.
package auth
