package config

import (
	"strings"
	"testing"
)

func TestEngineKeys(t *testing.T) {
	withMDM(t, nil, nil)
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Engine != "auto" || c.OsqueryMemoryMB != 200 || c.OsquerySocket != "" || c.OsquerydPath != "" {
		t.Errorf("defaults: engine %q memory %d socket %q path %q", c.Engine, c.OsqueryMemoryMB, c.OsquerySocket, c.OsquerydPath)
	}
	c, err = load(t, "engine: osquery\nosquery_socket: /var/osquery/osquery.em\nosqueryd_path: /opt/osquery/bin/osqueryd\n",
		map[string]string{"FLEETPROOF_OSQUERY_MEMORY_MB": "300"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Engine != "osquery" || c.OsquerySocket != "/var/osquery/osquery.em" || c.OsquerydPath != "/opt/osquery/bin/osqueryd" || c.OsqueryMemoryMB != 300 {
		t.Errorf("got %+v", c)
	}
	for _, tc := range []struct {
		file, want string
	}{
		{"engine: osqueryi\n", `engine (from file`},
		{"osquery_memory_mb: 10\n", "10 is below 50"},
		{"osquery_memory_mb: lots\n", `"lots" is not a whole number`},
	} {
		if _, err := load(t, tc.file, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.file, err, tc.want)
		}
	}
}
