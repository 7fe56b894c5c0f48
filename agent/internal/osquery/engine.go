package osquery

import (
	"context"
	"sync"
	"time"
)

// Engine answers check SQL through a running osqueryd; it satisfies the
// engine interface agent/internal/checks runs checks with.
//
// It dials on first use rather than up front so the agent can start before
// osqueryd has created its socket: an early check reports an error instead
// of the agent failing to start.
type Engine struct {
	Socket  string        // osqueryd's --extensions_socket
	Timeout time.Duration // per call; zero means DefaultTimeout

	mu sync.Mutex
	c  *Client
}

// Name identifies the engine in results.
func (e *Engine) Name() string { return "osquery" }

// Query runs SQL in osqueryd; see Client.Query.
func (e *Engine) Query(ctx context.Context, sql string) ([]map[string]string, error) {
	c, err := e.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Query(ctx, sql)
}

func (e *Engine) client(ctx context.Context) (*Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		c, err := Dial(ctx, e.Socket, e.Timeout)
		if err != nil {
			return nil, err
		}
		e.c = c
	}
	return e.c, nil
}

// Close releases the connection; the Engine dials again if used later.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil
	}
	err := e.c.Close()
	e.c = nil
	return err
}
