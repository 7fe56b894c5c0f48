package wire

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// MaxMessageSize bounds one Thrift message. The runtime's 100 MiB default
// is smaller than a big `query` result can be, and osqueryd itself sets no
// limit (--thrift_string_size_limit=0), so we allow 1 GiB.
const MaxMessageSize = 1 << 30

// MaxContainerSize bounds the element count of one list or map (rows in a
// query result, columns in a row). The generated decoder sizes its slice
// or map from the count the peer sends before reading any element, and the
// runtime checks that count only against MaxMessageSize at one byte per
// element, so a 20-byte garbage reply claiming 2^30 rows would make the
// agent allocate 8 GiB and die of it. 4M rows is far beyond any check's
// result; a larger count fails the call with a SIZE_LIMIT protocol error.
const MaxContainerSize = 1 << 22

// MaxManagerPath is the longest manager socket path osquery extensions
// accept: the extension socket appends ".NNNNN" and must still fit in
// sun_path (104 bytes on macOS, 108 on Linux). osquery-go enforces the same.
const MaxManagerPath = 97

// Config is the Thrift configuration every connection uses: binary
// protocol with the versioned (strict) header on write, both forms on
// read, exactly like osquery's C++ TBinaryProtocol.
func Config() *thrift.TConfiguration {
	return &thrift.TConfiguration{
		MaxMessageSize:     MaxMessageSize,
		MaxFrameSize:       MaxMessageSize,
		MaxContainerSize:   MaxContainerSize,
		TBinaryStrictRead:  thrift.BoolPtr(false),
		TBinaryStrictWrite: thrift.BoolPtr(true),
	}
}

// Conn is an unframed Thrift transport over one stream connection.
//
// We don't use thrift.TSocket because it resets the connection deadline on
// every Read and Write; callers here need one absolute deadline per call
// (and the ability to abort it when a context ends). The buffering matters:
// the binary protocol reads byte by byte and writes many tiny pieces, and
// one Flush per message keeps a request to a single write, as C++'s
// TBufferedTransport does. Neither adds anything to the bytes on the wire.
type Conn struct {
	c      net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	closed atomic.Bool
}

var _ thrift.TRichTransport = (*Conn)(nil)

// NewConn wraps an established connection.
func NewConn(c net.Conn) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// Dial connects to an osquery socket: a unix socket path, or on Windows a
// named pipe (\\.\pipe\...).
func Dial(ctx context.Context, path string) (*Conn, error) {
	c, err := dial(ctx, path)
	if err != nil {
		return nil, err
	}
	return NewConn(c), nil
}

// Protocol returns a binary protocol bound to c, for both directions.
func (c *Conn) Protocol() thrift.TProtocol {
	return thrift.NewTBinaryProtocolConf(c, Config())
}

// SetDeadline bounds every pending and future I/O on the connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.SetDeadline(t) }

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	return n, transportErr(err)
}

func (c *Conn) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	return b, transportErr(err)
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	return n, transportErr(err)
}

func (c *Conn) WriteByte(b byte) error { return transportErr(c.w.WriteByte(b)) }

func (c *Conn) WriteString(s string) (int, error) {
	n, err := c.w.WriteString(s)
	return n, transportErr(err)
}

// Flush sends the buffered message.
func (c *Conn) Flush(context.Context) error { return transportErr(c.w.Flush()) }

// RemainingBytes is unknown on a stream.
func (c *Conn) RemainingBytes() uint64 { return thrift.UnknownRemainingBytes }

// Open is a no-op: a Conn is born connected and never reopens.
func (c *Conn) Open() error {
	if c.closed.Load() {
		return thrift.NewTTransportException(thrift.NOT_OPEN, "connection closed")
	}
	return nil
}

// IsOpen is polled by generated processors every few milliseconds during a
// call, so it only reports whether we closed the connection; a peer that
// went away shows up as an I/O error instead.
func (c *Conn) IsOpen() bool { return !c.closed.Load() }

// Close closes the connection; it is safe to call more than once.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.c.Close()
}

// transportErr keeps errors recognisable as Thrift transport errors (the
// server loop and the generated code branch on that) while still unwrapping
// to io.EOF, os.ErrDeadlineExceeded and friends.
func transportErr(err error) error {
	if err == nil {
		return nil
	}
	var te thrift.TTransportException
	if errors.As(err, &te) {
		return err
	}
	return thrift.NewTTransportExceptionFromError(err)
}
