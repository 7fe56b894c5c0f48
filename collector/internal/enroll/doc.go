// Package enroll admits devices: it checks the enroll secret an agent
// presents (distributed through MDM), records the device, its public key
// and host facts, and tells the agent where to publish. The public key
// recorded here is what every later envelope must verify against.
package enroll
