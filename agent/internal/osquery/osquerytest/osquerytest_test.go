package osquerytest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/fleetproof/fleetproof/agent/internal/osquery/gen"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/internal/wire"
	"github.com/fleetproof/fleetproof/agent/internal/osquery/osquerytest"
)

// manager returns a raw generated client, so these tests see exactly the
// statuses a real extension SDK would.
func manager(t *testing.T, s *osquerytest.Server) *gen.ExtensionManagerClient {
	t.Helper()
	conn, err := wire.Dial(t.Context(), s.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	p := conn.Protocol()
	return gen.NewExtensionManagerClient(thrift.NewTStandardClient(p, p))
}

func tableRegistry(name string, routes ...map[string]string) gen.ExtensionRegistry {
	return gen.ExtensionRegistry{"table": {name: routes}}
}

var col = map[string]string{"id": "column", "name": "a", "type": "TEXT", "op": "0"}

func TestManagerPingIsPong(t *testing.T) {
	st, err := manager(t, osquerytest.New(t)).Ping(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 0 || st.Message != "pong" || st.UUID != 0 {
		t.Fatalf("ping = %+v", st)
	}
}

func TestManagerRegistrationAnswersLikeOsqueryd(t *testing.T) {
	s := osquerytest.New(t, osquerytest.WithExtensionsTimeout(time.Minute))
	if err := s.Exec(`CREATE TABLE users (uid BIGINT)`); err != nil {
		t.Fatal(err)
	}
	m := manager(t, s)
	first, err := m.RegisterExtension(t.Context(), &gen.InternalExtensionInfo{Name: "taken"}, tableRegistry("taken_t", col))
	if err != nil || first.Code != 0 || first.UUID <= 0 || first.UUID > 65535 {
		t.Fatalf("first registration: %+v, %v", first, err)
	}
	cases := []struct {
		name string
		info gen.InternalExtensionInfo
		reg  gen.ExtensionRegistry
		code int32
		msg  string
	}{
		{"duplicate name", gen.InternalExtensionInfo{Name: "taken"}, tableRegistry("other", col), 1, "Duplicate extension registered"},
		{"old SDK", gen.InternalExtensionInfo{Name: "e1", SdkVersion: "1.7.6"}, tableRegistry("t1", col), 1, "Incompatible extension SDK version"},
		{"empty route list", gen.InternalExtensionInfo{Name: "e2"}, tableRegistry("t2"), 1, "Failed adding registry: Invalid route info"},
		{"table name osquery already has", gen.InternalExtensionInfo{Name: "e3"}, tableRegistry("users", col), 1, "Failed adding registry: Duplicate registry item exists: users"},
		{"table name another extension has", gen.InternalExtensionInfo{Name: "e4"}, tableRegistry("taken_t", col), 1, "Failed adding registry: Duplicate registry item exists: taken_t"},
		{"current SDK", gen.InternalExtensionInfo{Name: "e5", SdkVersion: "5.12.1"}, tableRegistry("t5", col), 0, "OK"},
		{"osquery-go style: empty SDK, empty other registries", gen.InternalExtensionInfo{Name: "e6"},
			gen.ExtensionRegistry{"table": {"t6": {col}}, "config": {}, "logger": {}, "distributed": {}}, 0, "OK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := m.RegisterExtension(t.Context(), &tc.info, tc.reg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Code != tc.code || st.Message != tc.msg {
				t.Fatalf("got %d %q, want %d %q", st.Code, st.Message, tc.code, tc.msg)
			}
			if (st.Code == 0) != (st.UUID != 0) {
				t.Fatalf("uuid %d with code %d", st.UUID, st.Code)
			}
		})
	}
	exts, err := m.Extensions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range exts {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"e5", "e6", "taken"}) {
		t.Fatalf("registered: %v", names)
	}
}

func TestManagerDeregistration(t *testing.T) {
	s := osquerytest.New(t, osquerytest.WithExtensionsTimeout(time.Minute))
	m := manager(t, s)
	reg, err := m.RegisterExtension(t.Context(), &gen.InternalExtensionInfo{Name: "e"}, tableRegistry("t", col))
	if err != nil || reg.Code != 0 {
		t.Fatalf("register: %+v %v", reg, err)
	}
	cases := []struct {
		name string
		uuid gen.ExtensionRouteUUID
		code int32
		msg  string
	}{
		{"registered id", reg.UUID, 0, "OK"},
		{"same id again", reg.UUID, 1, "No extension UUID found"},
		{"never registered", 0, 1, "No extension UUID found"},
	}
	for _, tc := range cases {
		st, err := m.DeregisterExtension(t.Context(), tc.uuid)
		if err != nil {
			t.Fatal(err)
		}
		if st.Code != tc.code || st.Message != tc.msg {
			t.Fatalf("%s: got %d %q, want %d %q", tc.name, st.Code, st.Message, tc.code, tc.msg)
		}
	}
	// The name and the table name are free again.
	st, err := m.RegisterExtension(t.Context(), &gen.InternalExtensionInfo{Name: "e"}, tableRegistry("t", col))
	if err != nil || st.Code != 0 {
		t.Fatalf("re-register: %+v %v", st, err)
	}
}

func TestManagerDropsExtensionThatFailsPing(t *testing.T) {
	s := osquerytest.New(t, osquerytest.WithPingInterval(20*time.Millisecond), osquerytest.WithExtensionsTimeout(50*time.Millisecond))
	m := manager(t, s)
	// Registered, but nothing ever listens on <socket>.<uuid>.
	st, err := m.RegisterExtension(t.Context(), &gen.InternalExtensionInfo{Name: "ghost"}, tableRegistry("ghost_t", col))
	if err != nil || st.Code != 0 {
		t.Fatalf("register: %+v %v", st, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, func(st osquerytest.State) bool { return len(st.Dropped) == 1 }); err != nil {
		t.Fatal(err)
	}
	state := s.State()
	if state.Dropped[0] != int64(st.UUID) || len(state.Extensions) != 0 {
		t.Fatalf("state: %+v", state)
	}
	resp, err := m.Query(t.Context(), `SELECT * FROM ghost_t`)
	if err != nil || resp.Status.Code != 1 || resp.Status.Message != "no such table: ghost_t" {
		t.Fatalf("query on dropped table: %+v %v", resp, err)
	}
}

func TestManagerQueryErrorHasNoRows(t *testing.T) {
	resp, err := manager(t, osquerytest.New(t)).Query(t.Context(), `SELECT * FROM x`)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status.Code != 1 || resp.Status.Message != "no such table: x" || len(resp.Response) != 0 {
		t.Fatalf("got %+v", resp)
	}
}
