package osquery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/fleetproof/fleetproof/agent/internal/builtin"
	"github.com/fleetproof/fleetproof/agent/internal/osquery"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// Bad input from the other end of the socket, or in what osquery sends:
// each case ends in a clear error within the call timeout, never a hang or
// a crash. Already covered elsewhere, so not repeated here:
//   - hung socket that reads requests and never answers, per-call timeout
//     and context deadline/cancel: TestClientCallsEndOnTimeoutOrContext;
//   - nothing at the socket path: TestDialFailsWithoutOsqueryd;
//   - osqueryd gone / restarted between calls: TestClientReconnects*;
//   - non-existent table (and column, syntax error) as *StatusError with
//     osquery's message: TestClientQueryErrorsCarryOsqueryMessage and
//     TestEngineAnswersChecksThroughOsqueryd; in the built-in engine:
//     builtin's TestQuery* ("no such table: alf");
//   - runaway SQL in the built-in engine stopped at the context deadline:
//     builtin.TestQueryStopsRunawaySQLAtDeadline.

// peer listens on a fresh socket and runs fn on each
// connection the client opens (the client redials once after a broken
// connection).
func peer(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	path, conns := rawPeer(t)
	go func() {
		for c := range conns {
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
	return path
}

func readRequest(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	c.Read(buf)
}

func TestClientBadPeer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	good := queryReply(1, 0, "OK", []string{"x", "1"})
	cases := []struct {
		name  string
		serve func(c net.Conn)
		check func(t *testing.T, err error)
	}{
		{"accepts, never reads or replies", func(c net.Conn) { time.Sleep(3 * time.Second) },
			func(t *testing.T, err error) {
				if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "no answer within") {
					t.Fatalf("err = %v, want a deadline error", err)
				}
			}},
		{"half a reply, then silence", func(c net.Conn) {
			readRequest(c)
			c.Write(good[:len(good)/2])
			time.Sleep(3 * time.Second)
		}, func(t *testing.T, err error) {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v, want a deadline error", err)
			}
		}},
		{"closed mid-reply", func(c net.Conn) {
			readRequest(c)
			c.Write(good[:len(good)/2])
		}, func(t *testing.T, err error) {
			if !strings.Contains(err.Error(), "osquery: query:") || !strings.Contains(err.Error(), "EOF") {
				t.Fatalf("err = %v, want an EOF from the query call", err)
			}
		}},
		{"closed before replying", func(c net.Conn) { readRequest(c) },
			func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), "EOF") {
					t.Fatalf("err = %v, want EOF", err)
				}
			}},
		{"garbage reply (HTTP)", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		}, wantProtocolError},
		{"garbage reply (random bytes)", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte{0x80, 0x01, 0x00, 0x02, 0xff, 0xff, 0xff, 0xf0, 0x13, 0x37})
		}, wantProtocolError},
		{"reply claims 2^30 rows", func(c net.Conn) {
			readRequest(c)
			c.Write(cat(strictHeader(2, "query", 1), []byte{tStruct, 0, 0, tList, 0, 2, 0xff}, i32(1<<30)))
		}, wantProtocolError},
		{"reply to another call (seqid)", func(c net.Conn) {
			readRequest(c)
			c.Write(queryReply(9, 0, "OK"))
		}, wantProtocolError},
		{"reply for another method", func(c net.Conn) {
			readRequest(c)
			c.Write(pingReply(1, 0, "pong", 0))
		}, wantProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := peer(t, tc.serve)
			c, err := osquery.Dial(t.Context(), path, timeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			rows, err := c.Query(t.Context(), "SELECT 1")
			el := time.Since(start)
			if err == nil {
				t.Fatalf("Query succeeded with %v", rows)
			}
			if rows != nil {
				t.Fatalf("rows %v alongside error", rows)
			}
			t.Logf("after %s: %v", el.Round(time.Millisecond), err)
			if el > 2*timeout+time.Second {
				t.Fatalf("took %s, timeout %s", el, timeout)
			}
			tc.check(t, err)
		})
	}
}

// wantProtocolError accepts what the Thrift layer reports for a reply that
// is not a well-formed answer to our call.
func wantProtocolError(t *testing.T, err error) {
	t.Helper()
	var pe thrift.TProtocolException
	var ae thrift.TApplicationException
	switch {
	case errors.As(err, &ae):
		// bad sequence id, wrong method name, ...
	case errors.As(err, &pe):
	default:
		t.Fatalf("err = %v (%T), want a Thrift protocol or application error", err, err)
	}
	if !strings.HasPrefix(err.Error(), "osquery: query: ") {
		t.Fatalf("err %q does not say which call failed", err)
	}
}

func TestDialStaleSocketFile(t *testing.T) {
	// A socket file left behind by a dead osqueryd: connection refused.
	path := osquerytest.SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	start := time.Now()
	_, err = osquery.Dial(t.Context(), path, time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "osquery: connect "+path) {
		t.Fatalf("err = %v, want connection refused naming the socket", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %s", el)
	}
}

const rows100k = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)`

func check100k(t *testing.T, rows []map[string]string) {
	t.Helper()
	if len(rows) != 100000 {
		t.Fatalf("%d rows, want 100000", len(rows))
	}
	for _, i := range []int{0, 49999, 99999} {
		want := map[string]string{"id": fmt.Sprint(i + 1), "name": fmt.Sprintf("row-%d", i+1)}
		if !reflect.DeepEqual(rows[i], want) {
			t.Fatalf("row %d = %v, want %v", i, rows[i], want)
		}
	}
}

func TestQuery100kRowsThroughOsqueryd(t *testing.T) {
	s := osquerytest.New(t)
	if err := s.Exec(`CREATE TABLE big AS ` + rows100k + ` SELECT x AS id, 'row-' || x AS name FROM c`); err != nil {
		t.Fatal(err)
	}
	const timeout = 30 * time.Second
	c, err := osquery.Dial(t.Context(), s.Path(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	rows, err := c.Query(t.Context(), `SELECT id, name FROM big ORDER BY id`)
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100k rows through the stand-in osqueryd in %s", el.Round(time.Millisecond))
	check100k(t, rows)
	if el > timeout {
		t.Fatalf("took %s, timeout %s", el, timeout)
	}
}

func TestQuery100kRowsThroughBuiltinEngine(t *testing.T) {
	e := builtin.New(builtin.Options{Root: t.TempDir()})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	rows, err := e.Query(ctx, rows100k+` SELECT x AS id, 'row-' || x AS name FROM c`)
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100k rows from the built-in engine in %s", el.Round(time.Millisecond))
	check100k(t, rows)

	// The same size joined with a built-in table (empty root: one
	// os_version row), so the table path is exercised too.
	rows, err = e.Query(ctx, rows100k+` SELECT c.x AS id, 'row-' || c.x AS name FROM c, os_version`)
	if err != nil {
		t.Fatal(err)
	}
	check100k(t, rows)
}

func TestParseQueryContextWrongTypes(t *testing.T) {
	one := func(op int, expr string) map[string][]osquery.Constraint {
		return map[string][]osquery.Constraint{"path": {{Op: op, Expr: expr}}}
	}
	cases := []struct {
		name, json string
		want       map[string][]osquery.Constraint // nil: an error is wanted
	}{
		{"op as an object", `{"constraints":[{"name":"path","list":[{"op":{"eq":2},"expr":"x"}]}]}`, nil},
		{"op as an array", `{"constraints":[{"name":"path","list":[{"op":[2],"expr":"x"}]}]}`, nil},
		{"op as a bool", `{"constraints":[{"name":"path","list":[{"op":true,"expr":"x"}]}]}`, nil},
		{"op fractional", `{"constraints":[{"name":"path","list":[{"op":2.5,"expr":"x"}]}]}`, nil},
		{"op overflowing int", `{"constraints":[{"name":"path","list":[{"op":99999999999999999999999,"expr":"x"}]}]}`, nil},
		{"op missing", `{"constraints":[{"name":"path","list":[{"expr":"x"}]}]}`, nil},
		{"name as a number", `{"constraints":[{"name":5,"list":[]}]}`, nil},
		{"constraints as an object", `{"constraints":{"name":"path"}}`, nil},
		{"colsUsed as a string", `{"colsUsed":"path"}`, nil},
		{"list items not objects", `{"constraints":[{"name":"path","list":[1,2]}]}`, nil},
		{"expr as a number", `{"constraints":[{"name":"path","list":[{"op":2,"expr":5}]}]}`, one(2, "5")},
		{"expr as a real", `{"constraints":[{"name":"path","list":[{"op":2,"expr":1.5e3}]}]}`, one(2, "1.5e3")},
		{"expr as an object", `{"constraints":[{"name":"path","list":[{"op":2,"expr":{"a":1}}]}]}`, one(2, `{"a":1}`)},
		{"expr null", `{"constraints":[{"name":"path","list":[{"op":2,"expr":null}]}]}`, one(2, "")},
		{"list as an object is no constraint", `{"constraints":[{"name":"path","list":{"op":2}}]}`, map[string][]osquery.Constraint{}},
		{"list as a number is no constraint", `{"constraints":[{"name":"path","list":7}]}`, map[string][]osquery.Constraint{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			qc, err := osquery.ParseQueryContext(tc.json)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", qc)
				}
				if !strings.HasPrefix(err.Error(), "query context: ") {
					t.Fatalf("err %q does not say it is the query context", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(qc.Constraints, tc.want) {
				t.Fatalf("got %+v, want %+v", qc.Constraints, tc.want)
			}
		})
	}
}
