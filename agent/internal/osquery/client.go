package osquery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/internal/wire"
)

// DefaultTimeout bounds one call when Dial is given no timeout. It is far
// below osqueryd's own --thrift_timeout (300 s) because a check that runs
// for minutes would also trip osquery's watchdog.
const DefaultTimeout = 60 * time.Second

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("osquery: client closed")

// StatusError is a call osquery answered with a non-zero status code. The
// message is osquery's own, e.g. "no such table: x" for a bad query.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("osquery: status %d", e.Code)
	}
	return fmt.Sprintf("osquery: %s (status %d)", e.Message, e.Code)
}

// statusErr converts a status to an error; osquery's rule is code 0 = OK.
func statusErr(st *gen.ExtensionStatus) error {
	if st == nil {
		return &StatusError{Code: int(gen.ExtensionCode_EXT_FAILED), Message: "reply carried no status"}
	}
	if st.Code != int32(gen.ExtensionCode_EXT_SUCCESS) {
		return &StatusError{Code: int(st.Code), Message: st.Message}
	}
	return nil
}

// ColumnType is an osquery column type name as used on the wire.
type ColumnType string

// The type names osquery uses in route rows and getQueryColumns.
const (
	TypeText           ColumnType = "TEXT"
	TypeInteger        ColumnType = "INTEGER"
	TypeBigInt         ColumnType = "BIGINT"
	TypeUnsignedBigInt ColumnType = "UNSIGNED BIGINT"
	TypeDouble         ColumnType = "DOUBLE"
	TypeBlob           ColumnType = "BLOB"
	TypeUnknown        ColumnType = "UNKNOWN"
)

// Column is a result or table column. Options is osquery's ColumnOptions
// bitmask (INDEX 1, REQUIRED 2, ADDITIONAL 4, OPTIMIZED 8, HIDDEN 16, ...);
// only extension tables use it.
type Column struct {
	Name    string
	Type    ColumnType
	Options int
}

// ExtensionInfo describes a registered extension.
type ExtensionInfo struct {
	Name, Version, SDKVersion, MinSDKVersion string
}

// OptionInfo is one osqueryd flag; osquery reports every field as a string.
type OptionInfo struct {
	Value, Default, Type string
}

// Client talks to osqueryd's extension manager socket. It keeps one
// connection, serialises calls on it (a Thrift connection carries one
// request at a time), bounds each call by its timeout and the caller's
// context, and redials once when it finds the connection broken, which is
// what happens after osqueryd restarts.
type Client struct {
	path    string
	timeout time.Duration

	mu     sync.Mutex
	conn   *wire.Conn
	em     *gen.ExtensionManagerClient
	closed bool
}

// Dial connects to the manager socket at path (osqueryd's
// --extensions_socket). timeout bounds the connect and every later call;
// zero means DefaultTimeout.
func Dial(ctx context.Context, path string, timeout time.Duration) (*Client, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Client{path: path, timeout: timeout}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// connect requires c.mu held (or c unpublished).
func (c *Client) connect(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := wire.Dial(cctx, c.path)
	if err != nil {
		return fmt.Errorf("osquery: connect %s: %w", c.path, err)
	}
	p := conn.Protocol()
	c.conn = conn
	c.em = gen.NewExtensionManagerClient(thrift.NewTStandardClient(p, p))
	return nil
}

func (c *Client) drop() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.em = nil, nil
	}
}

// Close closes the connection; later calls fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.drop()
	return nil
}

// call runs fn on the connection with the call's deadline in force.
func (c *Client) call(ctx context.Context, method string, fn func(context.Context, *gen.ExtensionManagerClient) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	for attempt := 0; ; attempt++ {
		fresh := false
		if c.conn == nil {
			if err := c.connect(ctx); err != nil {
				return err
			}
			fresh = true
		}
		err := c.invoke(ctx, fn)
		if err == nil {
			return nil
		}
		var ae thrift.TApplicationException
		if errors.As(err, &ae) {
			// The peer answered with an exception: the stream is still in
			// step, and asking again would get the same answer.
			return fmt.Errorf("osquery: %s: %w", method, err)
		}
		// Anything else leaves the stream in an unknown state.
		c.drop()
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("osquery: %s: %w", method, cerr)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Not retried: a stuck osqueryd would only double the wait.
			return fmt.Errorf("osquery: %s: no answer within %s: %w", method, c.timeout, err)
		}
		// A connection we reused may have died while idle (osqueryd
		// restarted); one fresh connection tells that apart from an
		// osqueryd that is really gone.
		if fresh || attempt > 0 {
			return fmt.Errorf("osquery: %s: %w", method, err)
		}
	}
}

var aLongTimeAgo = time.Unix(1, 0)

func (c *Client) invoke(ctx context.Context, fn func(context.Context, *gen.ExtensionManagerClient) error) error {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := c.conn
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	// The generated code ignores ctx while blocked in I/O; moving the
	// deadline into the past is what interrupts it.
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(aborted)
		conn.SetDeadline(aLongTimeAgo)
	})
	defer func() {
		if !stop() {
			<-aborted // don't let a late abort hit the next call
		}
	}()
	return fn(ctx, c.em)
}

// Ping checks that osqueryd answers (it replies {0, "pong"}).
func (c *Client) Ping(ctx context.Context) error {
	var st *gen.ExtensionStatus
	err := c.call(ctx, "ping", func(ctx context.Context, em *gen.ExtensionManagerClient) (err error) {
		st, err = em.Ping(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return statusErr(st)
}

// Query runs SQL in osqueryd. Every value comes back as a string, SQL NULL
// as ""; an SQL error is a *StatusError carrying SQLite's message.
func (c *Client) Query(ctx context.Context, sql string) ([]map[string]string, error) {
	resp, err := c.response(ctx, "query", func(ctx context.Context, em *gen.ExtensionManagerClient) (*gen.ExtensionResponse, error) {
		return em.Query(ctx, sql)
	})
	if err != nil {
		return nil, err
	}
	rows := []map[string]string(resp.Response)
	if rows == nil {
		rows = []map[string]string{}
	}
	return rows, nil
}

// GetQueryColumns returns the result columns SQL would produce, in order,
// with osquery's type names, without returning rows.
func (c *Client) GetQueryColumns(ctx context.Context, sql string) ([]Column, error) {
	resp, err := c.response(ctx, "getQueryColumns", func(ctx context.Context, em *gen.ExtensionManagerClient) (*gen.ExtensionResponse, error) {
		return em.GetQueryColumns(ctx, sql)
	})
	if err != nil {
		return nil, err
	}
	cols := make([]Column, 0, len(resp.Response))
	for _, m := range resp.Response {
		// One single-entry map per column keeps the order a map can't.
		for name, typ := range m {
			cols = append(cols, Column{Name: name, Type: ColumnType(typ)})
		}
	}
	return cols, nil
}

func (c *Client) response(ctx context.Context, method string, fn func(context.Context, *gen.ExtensionManagerClient) (*gen.ExtensionResponse, error)) (*gen.ExtensionResponse, error) {
	var resp *gen.ExtensionResponse
	err := c.call(ctx, method, func(ctx context.Context, em *gen.ExtensionManagerClient) (err error) {
		resp, err = fn(ctx, em)
		return err
	})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, statusErr(nil)
	}
	if err := statusErr(resp.Status); err != nil {
		return nil, err
	}
	return resp, nil
}

// Extensions lists the registered extensions by route id (osqueryd itself
// is not included).
func (c *Client) Extensions(ctx context.Context) (map[int64]ExtensionInfo, error) {
	var list gen.InternalExtensionList
	err := c.call(ctx, "extensions", func(ctx context.Context, em *gen.ExtensionManagerClient) (err error) {
		list, err = em.Extensions(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[int64]ExtensionInfo, len(list))
	for id, info := range list {
		if info == nil {
			continue
		}
		out[int64(id)] = ExtensionInfo{Name: info.Name, Version: info.Version, SDKVersion: info.SdkVersion, MinSDKVersion: info.MinSdkVersion}
	}
	return out, nil
}

// Options returns osqueryd's flags by name.
func (c *Client) Options(ctx context.Context) (map[string]OptionInfo, error) {
	var list gen.InternalOptionList
	err := c.call(ctx, "options", func(ctx context.Context, em *gen.ExtensionManagerClient) (err error) {
		list, err = em.Options(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]OptionInfo, len(list))
	for name, o := range list {
		if o == nil {
			continue
		}
		out[name] = OptionInfo{Value: o.Value, Default: o.DefaultValue, Type: o.Type}
	}
	return out, nil
}

func (c *Client) registerExtension(ctx context.Context, info *gen.InternalExtensionInfo, reg gen.ExtensionRegistry) (*gen.ExtensionStatus, error) {
	var st *gen.ExtensionStatus
	err := c.call(ctx, "registerExtension", func(ctx context.Context, em *gen.ExtensionManagerClient) (err error) {
		st, err = em.RegisterExtension(ctx, info, reg)
		return err
	})
	if err == nil && st == nil {
		err = statusErr(nil)
	}
	return st, err
}

func (c *Client) deregisterExtension(ctx context.Context, uuid int64) error {
	var st *gen.ExtensionStatus
	err := c.call(ctx, "deregisterExtension", func(ctx context.Context, em *gen.ExtensionManagerClient) (err error) {
		st, err = em.DeregisterExtension(ctx, gen.ExtensionRouteUUID(uuid))
		return err
	})
	if err != nil {
		return err
	}
	return statusErr(st)
}
