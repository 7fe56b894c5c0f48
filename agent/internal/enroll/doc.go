// Package enroll is the agent's side of enrollment: it presents the enroll
// secret, the device's public key and host facts to the collector, and
// keeps the answer (where to publish) in the state directory so restarts
// do not re-enroll.
package enroll
