// Package osquerytest is a stand-in for osqueryd's extension manager, for
// tests only: no osqueryd package exists for this project's machines, and
// we wrote our own osquery client (osquery-go cannot be fetched through the
// module proxy), so something has to play osqueryd's side of the protocol.
//
// A Server is a real Thrift server on a unix socket in a temp dir, speaking
// the same unframed binary protocol as osqueryd. It answers ping ({0,
// "pong"}), query and getQueryColumns over canned tables the test loads
// into an in-memory SQLite database with Exec (modernc.org/sqlite, the
// dialect osquery embeds), extensions, options, registerExtension and
// deregisterExtension with osqueryd's error messages. Extension tables are
// attached as SQLite virtual tables, so a query naming one calls the
// extension back on "<socket>.<uuid>" with action "generate" and the WHERE
// constraints SQLite pushes down, like osqueryd. A watcher pings every
// extension each interval on a fresh connection and drops one whose ping
// fails. Close asks extensions to shut down first, as osqueryd does on
// exit; Kill just disappears, like a crash.
//
// Simplifications: getQueryColumns reports UNKNOWN for expression columns
// (osqueryd infers their types from the query plan); manager-side call()
// reaches only extension tables; one SQL statement runs at a time, so an
// extension whose generate queries the manager would wait for the call
// timeout; IN (...) reaches the extension as one generate per value
// (osqueryd batches them into one context).
package osquerytest
