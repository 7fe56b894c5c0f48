// Package auth is the collector's NATS trust chain in the decentralized
// JWT model (operator → account → user), built with nats-io/jwt and nkeys
// rather than a home-made scheme. On first start it creates an operator,
// a system account and the evidence account and keeps their seeds in the
// key directory (data_dir/auth unless nats_keys_dir says otherwise;
// owner-only). Enrollment issues each device a user JWT for the device's
// own public key that may publish only to its own evidence subjects and
// read only its own reply inbox; the seed never leaves the device.
// Revoking a device adds its key to the account's revocation list, which
// the embedded server applies without a restart, closing the device's
// live connections.
//
// An external NATS cluster trusts the same keys through the configuration
// fragment ServerConfig renders (operator, system account, a full account
// resolver with both account JWTs preloaded). Several collectors on one
// cluster must load copies of one key directory (Load refuses to create
// keys for that reason); they push revocations as account JWT updates
// through a system-account user, merging with the list the cluster holds
// (MergeAccount) so no collector undoes another's revocation.
package auth
