// Package natscluster connects the collector to an external NATS cluster
// whose servers trust Fleetproof's operator (they include the fragment
// `fleetproof-collector nats-config` writes). It opens two connections:
// one as a user of the evidence account, for ingest, issued by the
// collector itself unless a credentials file is given, and one as a
// narrowly scoped system-account user that keeps the cluster's copy of
// the evidence account JWT complete, which is how revocations reach every
// server without a restart. At connect it proves the cluster trusts the
// keys, so a misconfigured cluster fails at startup with a reason rather
// than later with devices that cannot publish.
package natscluster
