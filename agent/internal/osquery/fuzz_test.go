package osquery_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// Fuzzing what comes back from osqueryd: whatever the bytes on the socket,
// Query must return rows or an error within its timeout, never panic, and
// never take the agent down (e.g. by sizing an allocation from a count the
// peer made up). Seeds run as ordinary tests; to search:
//
//	go test -run '^$' -fuzz '^FuzzClientQueryReply$' -fuzztime 15s ./agent/internal/osquery/

const (
	tList = 0x0f
	tMap  = 0x0d
)

// queryReply encodes a REPLY to "query" carrying status {code, msg} and
// rows (each row's keys in the order given).
func queryReply(seq int32, code int32, msg string, rows ...[]string) []byte {
	b := cat(strictHeader(2, "query", seq),
		[]byte{tStruct, 0, 0}, // result field 0: ExtensionResponse
		[]byte{tStruct, 0, 1}, // status
		[]byte{tI32, 0, 1}, i32(code),
		[]byte{tString, 0, 2}, str(msg),
		[]byte{tStop},
		[]byte{tList, 0, 2, tMap}, i32(int32(len(rows))),
	)
	for _, kv := range rows {
		b = cat(b, []byte{tString, tString}, i32(int32(len(kv)/2)))
		for _, s := range kv {
			b = cat(b, str(s))
		}
	}
	return cat(b, []byte{tStop}, []byte{tStop})
}

// replyPeer is a fake osqueryd that answers every request, on every
// connection, with the current reply bytes and then hangs up.
type replyPeer struct {
	path  string
	mu    sync.Mutex
	reply []byte
}

func newReplyPeer(tb testing.TB) *replyPeer {
	p := &replyPeer{path: osquerytest.SocketPath(tb)}
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *replyPeer) set(b []byte) {
	p.mu.Lock()
	p.reply = b
	p.mu.Unlock()
}

func (p *replyPeer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// The client sends each request in one write.
	buf := make([]byte, 64<<10)
	if _, err := c.Read(buf); err != nil {
		return
	}
	p.mu.Lock()
	reply := p.reply
	p.mu.Unlock()
	c.Write(reply)
}

func FuzzClientQueryReply(f *testing.F) {
	f.Add(queryReply(1, 0, "OK", []string{"name", "Ubuntu", "major", "22"}, []string{"name", ""}))
	f.Add(queryReply(1, 0, "OK"))
	f.Add(queryReply(1, 1, "no such table: nope"))
	f.Add(queryReply(7, 0, "OK", []string{"a", "b"}))                                                                      // wrong seqid
	f.Add(pingReply(1, 0, "pong", 0))                                                                                      // wrong method
	f.Add(cat(strictHeader(3, "query", 1), []byte{tString, 0, 1}, str("boom"), []byte{tI32, 0, 2}, i32(6), []byte{tStop})) // EXCEPTION
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Add([]byte{})
	// Counts that promise far more than the reply holds: the decoder must
	// not size allocations from them.
	f.Add(cat(strictHeader(2, "query", 1), []byte{tStruct, 0, 0, tList, 0, 2, 0xff}, i32(0x3fffffff)))
	f.Add(cat(strictHeader(2, "query", 1), []byte{tStruct, 0, 0, tList, 0, 2, tMap}, i32(1), []byte{0xff, 0xff}, i32(0x1fffffff)))
	f.Add(cat(strictHeader(2, "query", 1), []byte{tStruct, 0, 0, tStruct, 0, 1, tString, 0, 2}, i32(0x3fffffff)))

	peer := newReplyPeer(f)
	const timeout = 2 * time.Second
	f.Fuzz(func(t *testing.T, reply []byte) {
		if len(reply) > 1<<20 {
			t.Skip("input too large")
		}
		peer.set(reply)
		c, err := osquery.Dial(t.Context(), peer.path, timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		rows, err := c.Query(t.Context(), "SELECT 1")
		// One redial is allowed after a broken connection, so two calls.
		if el := time.Since(start); el > 2*timeout+time.Second {
			t.Fatalf("Query took %s (timeout %s)", el, timeout)
		}
		if err != nil {
			if rows != nil {
				t.Fatalf("rows %v alongside error %v", rows, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			var se *osquery.StatusError
			if errors.As(err, &se) && se.Code == 0 {
				t.Fatalf("status error with code 0: %v", se)
			}
			return
		}
		if rows == nil {
			t.Fatal("nil rows without an error")
		}
		for i, r := range rows {
			if r == nil {
				t.Fatalf("row %d is nil", i)
			}
		}
	})
}

func FuzzParseQueryContext(f *testing.F) {
	for _, s := range []string{
		``,
		`{}`,
		`{"constraints":[{"name":"path","list":[{"op":2,"expr":"/etc/hosts"}],"affinity":"TEXT"}],"colsUsed":["path"]}`,
		`{"constraints":[{"name":"uid","list":[{"op":"2","expr":1000},{"op":4,"expr":null}],"affinity":"BIGINT"}]}`,
		`{"constraints":[{"name":"x","list":"","affinity":"TEXT"}]}`,
		`{"constraints":[{"name":"x","list":[{"op":{"a":1},"expr":[1]}]}]}`,
		`{"constraints":[{"name":"x","list":[{"op":1e400,"expr":1.5}]}]}`,
		`{"constraints":[{"name":"x","list":[{"op":99999999999999999999}]}]}`,
		`{"constraints":{"name":"x"}}`,
		`{"colsUsed":"path"}`,
		`[`,
		`null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1<<20 {
			t.Skip("input too large")
		}
		qc, err := osquery.ParseQueryContext(s)
		if err != nil {
			if qc.Constraints != nil || qc.ColsUsed != nil {
				t.Fatalf("partial context %+v alongside error %v", qc, err)
			}
			return
		}
		if qc.Constraints == nil {
			t.Fatal("nil Constraints map on success")
		}
		for col, cs := range qc.Constraints {
			if len(cs) == 0 {
				t.Fatalf("column %q present with no constraints", col)
			}
			for _, v := range qc.Equals(col) {
				_ = v
			}
		}
	})
}
