// Package hostfacts gathers the facts an agent reports at enrollment
// (hostname, OS, versions, hardware identity, CPU, memory) through
// gopsutil v4, the maintained successor of the frozen v3 line.
package hostfacts
