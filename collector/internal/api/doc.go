// Package api is the collector's HTTP API under /api/v1: JSON answers to
// the questions security teams and auditors ask, behind bearer tokens with
// roles. Tokens are stored hashed; every call is recorded as an access
// record with the token that made it.
//
// Roles:
//   - admin: everything, including revoking devices and exceptions.
//   - analyst: read posture, history, compliance, inventory, exceptions.
//   - auditor: read-only, and only extracts and compliance for the
//     controls and period the token grants.
package api
