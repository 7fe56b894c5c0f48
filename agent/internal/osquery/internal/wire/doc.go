// Package wire is the transport under our osquery extension client, server
// and test manager: plain Thrift binary protocol, unframed, over a unix
// socket (or a Windows named pipe), exactly what osqueryd's C++ side speaks
// (TBufferedTransport + TBinaryProtocol, which put nothing but the binary
// protocol's bytes on the wire).
//
// It exists because we write our own osquery client: osquery-go, which
// would otherwise provide this, cannot be fetched through the module proxy.
// Keeping the transport in one place means the client, the extension server
// and the stand-in manager in osquerytest cannot drift apart on framing,
// strictness or message limits.
package wire
