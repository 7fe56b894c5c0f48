package osquerytest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
)

// pinger runs pingAll every --extensions_interval until Kill.
func (s *Server) pinger() {
	defer s.wg.Done()
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.pingAll()
		}
	}
}

// pingAll is osqueryd's extension watcher: a fresh connection per ping, and
// one failure (no socket, transport error, code 1) drops the extension.
func (s *Server) pingAll() {
	s.mu.Lock()
	type target struct {
		id     int64
		ext    *extension
		grace  bool
		socket string
	}
	var ts []target
	for id, e := range s.exts {
		ts = append(ts, target{id: id, ext: e, grace: !e.answered && time.Since(e.registered) < s.extTimeout, socket: s.extPath(id)})
	}
	s.mu.Unlock()
	for _, t := range ts {
		err := s.callExtension(s.ctx, t.id, func(ctx context.Context, c *gen.ExtensionClient) error {
			st, err := c.Ping(ctx)
			if err == nil && st.Code == int32(gen.ExtensionCode_EXT_FAILED) {
				err = fmt.Errorf("ping status %d: %s", st.Code, st.Message)
			}
			return err
		})
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			s.mu.Lock()
			if e := s.exts[t.id]; e != nil {
				e.answered = true
			}
			s.mu.Unlock()
			continue
		}
		// Only the first check waits for the socket to appear.
		if _, serr := os.Stat(t.socket); t.grace && os.IsNotExist(serr) {
			continue
		}
		s.drop(t.id, t.ext)
	}
}

// drop removes ext unless it already left (and its id was reused).
func (s *Server) drop(id int64, ext *extension) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	same := s.exts[id] == ext
	s.mu.Unlock()
	if same && s.remove(id) {
		s.mu.Lock()
		s.state.Dropped = append(s.state.Dropped, id)
		s.notify()
		s.mu.Unlock()
	}
}

func (s *Server) register(info ExtensionInfo, reg gen.ExtensionRegistry) *gen.ExtensionStatus {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	st := s.tryRegister(info, reg)
	s.mu.Lock()
	s.state.Registrations = append(s.state.Registrations, Registration{Info: info, Code: int(st.Code), Message: st.Message, UUID: int64(st.UUID)})
	s.notify()
	s.mu.Unlock()
	return st
}

func failStatus(msg string) *gen.ExtensionStatus {
	return &gen.ExtensionStatus{Code: int32(gen.ExtensionCode_EXT_FAILED), Message: msg}
}

// tryRegister follows osqueryd's checks and messages, in its order.
func (s *Server) tryRegister(info ExtensionInfo, reg gen.ExtensionRegistry) *gen.ExtensionStatus {
	s.mu.Lock()
	for _, e := range s.exts {
		if e.info.Name == info.Name {
			s.mu.Unlock()
			return failStatus("Duplicate extension registered")
		}
	}
	s.mu.Unlock()
	if !sdkCompatible(info.SDKVersion) {
		return failStatus("Incompatible extension SDK version")
	}
	names := make([]string, 0, len(reg["table"]))
	for name := range reg["table"] {
		names = append(names, name)
	}
	sort.Strings(names)
	var tables []*extTable
	for _, name := range names {
		t := &extTable{name: name}
		for _, r := range reg["table"][name] {
			if r["id"] == "column" && r["name"] != "" {
				t.cols = append(t.cols, column{name: r["name"], typ: strings.ToUpper(r["type"])})
			}
		}
		// osqueryd rejects an empty route list; a list without a single
		// column row could not become a table either.
		if len(t.cols) == 0 {
			return failStatus("Failed adding registry: Invalid route info")
		}
		if s.tableExists(name) {
			return failStatus("Failed adding registry: Duplicate registry item exists: " + name)
		}
		tables = append(tables, t)
	}

	s.mu.Lock()
	id := int64(rand.IntN(65535) + 1) // osqueryd: a random 16-bit id, 0 is the core
	for s.exts[id] != nil {
		id = int64(rand.IntN(65535) + 1)
	}
	e := &extension{info: info, registered: time.Now()}
	for _, t := range tables {
		t.uuid = id
		s.tables[strings.ToLower(t.name)] = t
	}
	e.tables = tables
	s.exts[id] = e
	s.mu.Unlock()

	for _, t := range tables {
		if err := s.Exec(`CREATE VIRTUAL TABLE ` + quoteIdent(t.name) + ` USING osquery_extension`); err != nil {
			s.remove(id)
			return failStatus("Failed adding registry: " + sqliteMessage(err))
		}
	}
	return &gen.ExtensionStatus{Code: 0, Message: "OK", UUID: gen.ExtensionRouteUUID(id)}
}

// sdkCompatible: osqueryd accepts an empty or 0.0.0 SDK version (what
// osquery-go sends) or one at least 1.7.7.
func sdkCompatible(v string) bool {
	if v == "" || v == "0.0.0" {
		return true
	}
	want := []int{1, 7, 7}
	parts := strings.Split(v, ".")
	for i, w := range want {
		if i >= len(parts) {
			return false
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}

func (s *Server) deregister(id int64) *gen.ExtensionStatus {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if !s.remove(id) {
		return failStatus("No extension UUID found")
	}
	s.mu.Lock()
	s.state.Deregistered = append(s.state.Deregistered, id)
	s.notify()
	s.mu.Unlock()
	return &gen.ExtensionStatus{Code: 0, Message: "OK", UUID: gen.ExtensionRouteUUID(id)}
}

// remove forgets an extension and its tables; s.regMu must be held.
func (s *Server) remove(id int64) bool {
	s.mu.Lock()
	e := s.exts[id]
	s.mu.Unlock()
	if e == nil {
		return false
	}
	for _, t := range e.tables {
		_ = s.Exec(`DROP TABLE IF EXISTS ` + quoteIdent(t.name))
	}
	s.mu.Lock()
	for _, t := range e.tables {
		delete(s.tables, strings.ToLower(t.name))
	}
	delete(s.exts, id)
	s.notify()
	s.mu.Unlock()
	return true
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// tableExists reports a name SQLite already has: a canned table or view
// (osqueryd's own tables, as far as the stand-in is concerned) or another
// extension's table.
func (s *Server) tableExists(name string) bool {
	s.sqlMu.Lock()
	defer s.sqlMu.Unlock()
	var n int
	err := s.conn.QueryRowContext(s.ctx, `SELECT count(*) FROM
		(SELECT name FROM sqlite_master UNION ALL SELECT name FROM sqlite_temp_master)
		WHERE lower(name) = lower(?)`, name).Scan(&n)
	return err == nil && n > 0
}
