package osquerytest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
)

// handler implements gen.ExtensionManager with osqueryd's answers.
type handler struct{ s *Server }

var _ gen.ExtensionManager = (*handler)(nil)

func (h *handler) Ping(context.Context) (*gen.ExtensionStatus, error) {
	return &gen.ExtensionStatus{Code: 0, Message: "pong", UUID: 0}, nil
}

// Call reaches extension tables only; osqueryd would also route to its
// built-in plugins, which the stand-in does not have.
func (h *handler) Call(ctx context.Context, registry, item string, req gen.ExtensionPluginRequest) (*gen.ExtensionResponse, error) {
	h.s.mu.Lock()
	t := h.s.tables[strings.ToLower(item)]
	h.s.mu.Unlock()
	if registry != "table" || t == nil {
		return &gen.ExtensionResponse{Status: failStatus(fmt.Sprintf("osquerytest: no extension plugin %s/%s", registry, item))}, nil
	}
	var resp *gen.ExtensionResponse
	err := h.s.callExtension(ctx, t.uuid, func(ctx context.Context, c *gen.ExtensionClient) (err error) {
		resp, err = c.Call(ctx, registry, t.name, req)
		return err
	})
	if err != nil {
		return &gen.ExtensionResponse{Status: failStatus(err.Error())}, nil
	}
	return resp, nil
}

// Shutdown is ignored by a manager.
func (h *handler) Shutdown(context.Context) error { return nil }

func (h *handler) Extensions(context.Context) (gen.InternalExtensionList, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	out := gen.InternalExtensionList{}
	for id, e := range h.s.exts {
		out[gen.ExtensionRouteUUID(id)] = &gen.InternalExtensionInfo{
			Name: e.info.Name, Version: e.info.Version, SdkVersion: e.info.SDKVersion, MinSdkVersion: e.info.MinSDKVersion,
		}
	}
	return out, nil
}

func (h *handler) Options(context.Context) (gen.InternalOptionList, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	out := gen.InternalOptionList{}
	for name, o := range h.s.options {
		c := *o
		out[name] = &c
	}
	return out, nil
}

func (h *handler) RegisterExtension(_ context.Context, info *gen.InternalExtensionInfo, reg gen.ExtensionRegistry) (*gen.ExtensionStatus, error) {
	if info == nil {
		info = &gen.InternalExtensionInfo{}
	}
	return h.s.register(ExtensionInfo{Name: info.Name, Version: info.Version, SDKVersion: info.SdkVersion, MinSDKVersion: info.MinSdkVersion}, reg), nil
}

func (h *handler) DeregisterExtension(_ context.Context, uuid gen.ExtensionRouteUUID) (*gen.ExtensionStatus, error) {
	return h.s.deregister(int64(uuid)), nil
}

// Query: rows of strings (NULL as ""), or status 1 with SQLite's message
// and no rows.
func (h *handler) Query(ctx context.Context, query string) (*gen.ExtensionResponse, error) {
	rows, err := h.s.query(ctx, query)
	if err != nil {
		return &gen.ExtensionResponse{Status: failStatus(sqliteMessage(err))}, nil
	}
	return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 0, Message: "OK"}, Response: rows}, nil
}

// GetQueryColumns: one single-entry map per result column, in order.
func (h *handler) GetQueryColumns(ctx context.Context, query string) (*gen.ExtensionResponse, error) {
	cols, err := h.s.columns(ctx, query)
	if err != nil {
		return &gen.ExtensionResponse{Status: failStatus(sqliteMessage(err))}, nil
	}
	return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 0, Message: "OK"}, Response: cols}, nil
}

func (s *Server) query(ctx context.Context, query string) ([]map[string]string, error) {
	s.sqlMu.Lock()
	defer s.sqlMu.Unlock()
	rows, err := s.conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]string{}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]string, len(names))
		for i, n := range names {
			row[n] = stringify(vals[i])
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// osqueryTypes are the declared types osquery reports as themselves; any
// other declared type, or none (an expression), is UNKNOWN. (osqueryd then
// infers expression types from the query plan; the stand-in does not.)
var osqueryTypes = map[string]bool{
	"TEXT": true, "INTEGER": true, "BIGINT": true, "UNSIGNED BIGINT": true, "DOUBLE": true, "BLOB": true,
}

func (s *Server) columns(ctx context.Context, query string) ([]map[string]string, error) {
	s.sqlMu.Lock()
	defer s.sqlMu.Unlock()
	rows, err := s.conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(types))
	for _, t := range types {
		typ := strings.ToUpper(strings.TrimSpace(t.DatabaseTypeName()))
		if !osqueryTypes[typ] {
			typ = "UNKNOWN"
		}
		out = append(out, map[string]string{t.Name(): typ})
	}
	return out, nil
}

// stringify renders a value the way osqueryd returns it: integers in
// decimal, reals as SQLite prints them (%!.15g), NULL as "".
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatReal(x)
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.Format("2006-01-02 15:04:05")
	default:
		return fmt.Sprint(x)
	}
}

func formatReal(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	s := strconv.FormatFloat(f, 'g', 15, 64)
	if strings.ContainsAny(s, ".") {
		return s
	}
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		return s[:i] + ".0" + s[i:]
	}
	return s + ".0"
}

// sqliteMessage returns SQLite's own message, as osqueryd reports it: the
// driver formats errors as "<errstr>: <errmsg> (<code>)".
func sqliteMessage(err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	msg := strings.TrimSuffix(se.Error(), fmt.Sprintf(" (%d)", se.Code()))
	if _, rest, ok := strings.Cut(msg, ": "); ok {
		return rest
	}
	return msg
}
