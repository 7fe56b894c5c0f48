package osquery_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// Hand-encoded Thrift binary protocol, independent of the generated code,
// so these tests pin the bytes real osqueryd exchanges with us.

func str(s string) []byte { return append(i32(int32(len(s))), s...) }

func i32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func i64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

const (
	tStop   = 0x00
	tI32    = 0x08
	tI64    = 0x0a
	tString = 0x0b
	tStruct = 0x0c
)

// strictHeader is the versioned message header: 0x8001, 0x00, message type.
func strictHeader(msgType byte, name string, seq int32) []byte {
	return cat([]byte{0x80, 0x01, 0x00, msgType}, str(name), i32(seq))
}

// pingReply is a REPLY whose result struct has field 0 = ExtensionStatus.
func pingReply(seq int32, code int32, msg string, uuid int64) []byte {
	return cat(strictHeader(2, "ping", seq),
		[]byte{tStruct, 0, 0},
		[]byte{tI32, 0, 1}, i32(code),
		[]byte{tString, 0, 2}, str(msg),
		[]byte{tI64, 0, 3}, i64(uuid),
		[]byte{tStop}, // ExtensionStatus
		[]byte{tStop}, // result struct
	)
}

// rawPeer listens on a fresh socket and hands the test each accepted
// connection.
func rawPeer(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	path := osquerytest.SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	return path, conns
}

func TestPingEncodesAsStrictBinaryProtocol(t *testing.T) {
	cases := []struct {
		name    string
		reply   []byte
		wantErr *osquery.StatusError
	}{
		{name: "pong is success", reply: pingReply(1, 0, "pong", 0)},
		{name: "code 1 is a failed ping", reply: pingReply(1, 1, "not ready", 0), wantErr: &osquery.StatusError{Code: 1, Message: "not ready"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, conns := rawPeer(t)
			c, err := osquery.Dial(t.Context(), path, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			done := make(chan error, 1)
			go func() { done <- c.Ping(t.Context()) }()

			conn := <-conns
			defer conn.Close()
			// Unframed: the message starts right at the versioned header;
			// the first call on a connection has seqid 1; ping has no
			// arguments, so the args struct is a lone STOP.
			want := cat(strictHeader(1, "ping", 1), []byte{tStop})
			got := make([]byte, len(want))
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatalf("reading request: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("ping request bytes\n got % x\nwant % x", got, want)
			}
			if _, err := conn.Write(tc.reply); err != nil {
				t.Fatal(err)
			}
			err = <-done
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			var se *osquery.StatusError
			if !errors.As(err, &se) || *se != *tc.wantErr {
				t.Fatalf("Ping error = %#v, want %#v", err, tc.wantErr)
			}
		})
	}
}

func TestExtensionAnswersRawPingRequests(t *testing.T) {
	s := osquerytest.New(t)
	_, sock := serveExtension(t, s, "rawping", []osquery.Table{screenlockTable(nil)})

	cases := []struct {
		name    string
		request []byte
	}{
		// What osqueryd's C++ client sends.
		{name: "strict header", request: cat(strictHeader(1, "ping", 7), []byte{tStop})},
		// Pre-versioned senders: name, type byte, seqid; still accepted.
		{name: "non-strict header", request: cat(str("ping"), []byte{1}, i32(7), []byte{tStop})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(tc.request); err != nil {
				t.Fatal(err)
			}
			want := pingReply(7, 0, "OK", 0)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("ping reply bytes\n got % x\nwant % x", got, want)
			}
		})
	}
}
