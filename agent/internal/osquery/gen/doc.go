// Package gen is the Thrift-generated Go binding of osquery's extension API
// (osquery.thrift in this directory, transcribed from osquery's own IDL).
//
// We generate our own binding because github.com/osquery/osquery-go, which
// ships one, cannot be fetched through this project's module proxy (403).
// The IDL keeps osquery's names and field ids so the wire bytes match what
// osqueryd sends and expects.
//
// The code is produced by Debian's thrift compiler 0.17 and compiles
// unchanged against the github.com/apache/thrift v0.25.0 runtime in go.mod,
// so no hand edits are applied; gofmt only normalises the indentation.
// skip_remote stops thrift from writing the *-remote command-line mains.
// Regenerate after editing osquery.thrift (needs `apt-get install
// thrift-compiler`):
//
//	go generate ./agent/internal/osquery/gen
package gen

//go:generate thrift --gen go:package_prefix=github.com/fleetproof/fleetproof/agent/internal/osquery/,thrift_import=github.com/apache/thrift/lib/go/thrift,skip_remote -out .. osquery.thrift
//go:generate gofmt -w osquery.go osquery-consts.go GoUnusedProtection__.go
