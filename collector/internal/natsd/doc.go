// Package natsd runs the NATS server with JetStream inside the collector
// process, so a small deployment needs no separate message broker. Larger
// deployments point the collector at an external NATS cluster instead and
// never start this.
package natsd
