// Package osquery speaks osquery's extension protocol: Thrift's binary
// protocol, unframed, over osqueryd's extension manager socket (a unix
// socket; a named pipe on Windows).
//
// The agent uses it two ways:
//
//   - As a client (Client, Engine): run check SQL in a running or
//     agent-supervised osqueryd with `query`, plus ping, getQueryColumns,
//     extensions and options. Engine is the checks engine backed by it.
//   - As an extension (Serve): register tables osquery lacks, answer
//     osqueryd's `generate` calls on "<manager socket>.<route id>", follow
//     osqueryd's lifecycle (health pings, shutdown, deregistration).
//
// # Why our own implementation
//
// The usual library, github.com/osquery/osquery-go, cannot be fetched
// through this project's module proxy (403), and neither can kolide/launcher
// or fleetdm/fleet which embed it. So gen/ holds the Thrift binding
// generated from osquery's IDL, internal/wire the transport, and this
// package the client and server on the apache/thrift runtime. Wire
// compatibility with real osqueryd is pinned by byte-level tests, and
// osquerytest provides a stand-in extension manager for tests, since no
// osqueryd package exists for this project's machines.
//
// Behaviour worth knowing:
//   - osquery status code != 0 surfaces as *StatusError with osquery's
//     message (for a bad query, SQLite's, e.g. "no such table: x").
//   - Every value in a row is a string; SQL NULL is "".
//   - A Client serialises calls on one connection, bounds each by its
//     timeout and context, and redials once when the connection broke
//     (osqueryd restarted); it does not retry timeouts.
//   - Serve refuses manager socket paths longer than 97 characters,
//     retries a registration refused as "Duplicate extension registered"
//     (a previous instance not yet reaped), and deregisters on cancel.
package osquery
