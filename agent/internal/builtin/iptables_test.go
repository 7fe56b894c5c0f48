package builtin

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/queries"
)

// The fixtures under testdata/iptables/<scenario>/ are the raw
// ipt_getinfo (<table>.info) and entry blobs (<table>.entries) a Linux
// 6.18 x86_64 kernel returned for the ruleset in rules.v4, captured with
// TestCaptureIPTablesFixtures in a private network namespace. They are
// little-endian, as the parser reads host byte order.
func skipUnlessLittleEndian(t testing.TB) {
	t.Helper()
	b := binary.NativeEndian.AppendUint16(nil, 1)
	if b[0] != 1 {
		t.Skip("iptables fixtures are little-endian")
	}
}

func loadIPTFixture(t testing.TB, scenario, table string) (iptInfo, []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "iptables", scenario)
	ib, err := os.ReadFile(filepath.Join(dir, table+".info"))
	if err != nil {
		t.Fatal(err)
	}
	eb, err := os.ReadFile(filepath.Join(dir, table+".entries"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := parseIPTInfo(ib)
	if err != nil {
		t.Fatal(err)
	}
	return info, eb
}

// iptFixtureEngine is an engine whose iptables table holds the scenario's
// captured tables, in the order the kernel lists them.
func iptFixtureEngine(t *testing.T, scenario string, tables ...string) *Engine {
	t.Helper()
	var rows []row
	for _, name := range tables {
		info, blob := loadIPTFixture(t, scenario, name)
		rules, err := parseIPTEntries(blob, info)
		if err != nil {
			t.Fatalf("%s/%s: %v", scenario, name, err)
		}
		rows = append(rows, iptablesRows(info.name, rules)...)
	}
	e := newTestEngine(t, t.TempDir())
	td := *iptablesTable
	td.gen = func(context.Context, *Engine) ([]row, error) { return rows, nil }
	e.tables["iptables"] = &td
	return e
}

// iptLine renders a row compactly; chain rows (no rule columns) end in
// "(chain)".
func iptLine(r map[string]string) string {
	head := fmt.Sprintf("%s %s pol=%s %s/%s", r["filter_name"], r["chain"], r["policy"], r["packets"], r["bytes"])
	if r["match"] == "" {
		return head + " (chain)"
	}
	return fmt.Sprintf("%s -> %q proto=%s sp=%s dp=%s src=%s/%s dst=%s/%s in=%s/%s out=%s/%s match=%s",
		head, r["target"], r["protocol"], r["src_port"], r["dst_port"], r["src_ip"], r["src_mask"],
		r["dst_ip"], r["dst_mask"], r["iniface"], r["iniface_mask"], r["outiface"], r["outiface_mask"], r["match"])
}

func TestParseIPTInfo(t *testing.T) {
	skipUnlessLittleEndian(t)
	info, _ := loadIPTFixture(t, "firewall", "filter")
	want := iptInfo{
		name: "filter", validHooks: 1<<1 | 1<<2 | 1<<3,
		hookEntry:  [5]uint32{0xffffffff, 0, 1712, 2016, 0xffffffff},
		underflow:  [5]uint32{0xffffffff, 1560, 1864, 2320, 0xffffffff},
		numEntries: 24, size: 4160,
	}
	if info != want {
		t.Errorf("parseIPTInfo = %+v, want %+v", info, want)
	}
	if _, err := parseIPTInfo(make([]byte, 83)); err == nil {
		t.Error("short ipt_getinfo accepted")
	}
}

func TestIptablesFromCapturedTables(t *testing.T) {
	skipUnlessLittleEndian(t)
	const any4 = "0.0.0.0/0.0.0.0"
	rule := func(chain, pol, counters, target, proto, sp, dp, src, dst, in, out string) string {
		return fmt.Sprintf("filter %s pol=%s %s -> %q proto=%s sp=%s dp=%s src=%s dst=%s in=%s out=%s match=yes",
			chain, pol, counters, target, proto, sp, dp, src, dst, in, out)
	}
	in := func(chain, target, proto, sp, dp, src, dst, iface string) string {
		return rule(chain, "DROP", "120/9600", target, proto, sp, dp, src, dst, iface, "all/")
	}
	tests := []struct {
		scenario string
		tables   []string
		want     []string
	}{
		{"firewall", []string{"filter"}, []string{
			// rules.v4: the policy's counters ([120:9600]) are on every
			// row of the chain, as osquery reports them; rule counters
			// are not reported.
			in("INPUT", "ACCEPT", "0", "", "", any4, any4, "lo/FFFFFF"),                         // -i lo
			in("INPUT", "ACCEPT", "0", "", "", any4, any4, "all/"),                              // -m conntrack
			in("INPUT", "ACCEPT", "6", "0:65535", "22:22", any4, any4, "all/"),                  // --dport 22
			in("INPUT", "ACCEPT", "17", "53:53", "1024:65535", any4, any4, "all/"),              // udp
			in("INPUT", "LOGDROP", "0", "", "", "10.0.0.0/255.0.0.0", any4, "!eth0/FFFFFFFFFF"), // jump
			in("INPUT", "WEB", "6", "0:65535", "80:80", any4, any4, "all/"),                     // goto
			in("INPUT", "REJECT", "1", "", "", any4, any4, "all/"),                              // module target
			in("INPUT", "RETURN", "!6", "", "", any4, "!192.168.1.1/255.255.255.255", "all/"),   // inversions
			"filter INPUT pol=DROP 120/9600 (chain)",
			rule("FORWARD", "DROP", "3/180", "DROP", "0", "", "", any4, any4, "eth+/FFFFFF", "wg0/FFFFFFFF"),
			"filter FORWARD pol=DROP 3/180 (chain)",
			rule("OUTPUT", "ACCEPT", "300/24000", "", "0", "", "", any4, "1.2.3.4/255.255.255.255", "all/", "all/"), // no target
			rule("OUTPUT", "ACCEPT", "300/24000", "ACCEPT", "6", "", "", any4, any4, "all/", "all/"),                // -p tcp without -m tcp
			"filter OUTPUT pol=ACCEPT 300/24000 (chain)",
			"filter EMPTY pol= 0/0 (chain)",
			rule("LOGDROP", "", "0/0", "LOG", "0", "", "", any4, any4, "all/", "all/"),
			rule("LOGDROP", "", "0/0", "DROP", "0", "", "", any4, any4, "all/", "all/"),
			"filter LOGDROP pol= 0/0 (chain)",
			rule("WEB", "", "0/0", "ACCEPT", "6", "1024:65535", "0:65535", any4, any4, "all/", "all/"),
			"filter WEB pol= 0/0 (chain)",
		}},
		{"firewall", []string{"nat", "mangle", "raw"}, []string{
			`nat PREROUTING pol=ACCEPT 0/0 -> "DNAT" proto=6 sp=0:65535 dp=8080:8080 src=0.0.0.0/0.0.0.0 dst=0.0.0.0/0.0.0.0 in=all/ out=all/ match=yes`,
			"nat PREROUTING pol=ACCEPT 0/0 (chain)",
			"nat INPUT pol=ACCEPT 0/0 (chain)",
			"nat OUTPUT pol=ACCEPT 0/0 (chain)",
			`nat POSTROUTING pol=ACCEPT 0/0 -> "MASQUERADE" proto=0 sp= dp= src=0.0.0.0/0.0.0.0 dst=0.0.0.0/0.0.0.0 in=all/ out=eth0/FFFFFFFFFF match=yes`,
			"nat POSTROUTING pol=ACCEPT 0/0 (chain)",
			"mangle PREROUTING pol=ACCEPT 0/0 (chain)",
			"mangle INPUT pol=ACCEPT 0/0 (chain)",
			"mangle FORWARD pol=ACCEPT 0/0 (chain)",
			"mangle OUTPUT pol=ACCEPT 0/0 (chain)",
			`mangle POSTROUTING pol=ACCEPT 0/0 -> "TCPMSS" proto=6 sp=0:65535 dp=0:65535 src=0.0.0.0/0.0.0.0 dst=0.0.0.0/0.0.0.0 in=all/ out=wg0/FFFFFFFF match=yes`,
			"mangle POSTROUTING pol=ACCEPT 0/0 (chain)",
			`raw PREROUTING pol=ACCEPT 0/0 -> "CT" proto=17 sp=0:65535 dp=123:123 src=0.0.0.0/0.0.0.0 dst=0.0.0.0/0.0.0.0 in=all/ out=all/ match=yes`,
			"raw PREROUTING pol=ACCEPT 0/0 (chain)",
			"raw OUTPUT pol=ACCEPT 0/0 (chain)",
		}},
		{"defaults", []string{"filter"}, []string{
			"filter INPUT pol=ACCEPT 0/0 (chain)",
			"filter FORWARD pol=ACCEPT 0/0 (chain)",
			"filter OUTPUT pol=ACCEPT 0/0 (chain)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+"/"+strings.Join(tt.tables, "+"), func(t *testing.T) {
			e := iptFixtureEngine(t, tt.scenario, tt.tables...)
			var got []string
			for _, r := range mustQuery(t, e, "SELECT * FROM iptables") {
				got = append(got, iptLine(r))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestIptablesColumnTypesAndNulls(t *testing.T) {
	skipUnlessLittleEndian(t)
	e := iptFixtureEngine(t, "firewall", "filter")
	// Chain rows leave the rule columns NULL; protocol is an integer
	// unless inverted ("!6" stays text, as osquery's string does).
	got := mustQuery(t, e, `SELECT
		(SELECT COUNT(*) FROM iptables WHERE target IS NULL) AS chain_rows,
		(SELECT COUNT(*) FROM iptables WHERE target IS NULL AND protocol IS NULL AND match IS NULL) AS null_rule_cols,
		(SELECT COUNT(*) FROM iptables WHERE typeof(protocol) = 'integer') AS int_protocols,
		(SELECT group_concat(protocol) FROM iptables WHERE typeof(protocol) = 'text') AS text_protocols,
		(SELECT SUM(packets) FROM iptables WHERE chain = 'INPUT') AS input_packets`)[0]
	assertRow(t, "types", got, map[string]string{
		"chain_rows": "6", "null_rule_cols": "6", "int_protocols": "13", "text_protocols": "!6", "input_packets": "1080"})
	cols, err := e.Columns(context.Background(), "SELECT * FROM iptables")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cols {
		names = append(names, c.Name+" "+c.Type)
	}
	want := "filter_name TEXT,chain TEXT,policy TEXT,target TEXT,protocol INTEGER,src_port TEXT,dst_port TEXT," +
		"src_ip TEXT,src_mask TEXT,iniface TEXT,iniface_mask TEXT,dst_ip TEXT,dst_mask TEXT,outiface TEXT," +
		"outiface_mask TEXT,match TEXT,packets INTEGER,bytes INTEGER"
	if strings.Join(names, ",") != want {
		t.Errorf("columns = %s\nwant      %s", strings.Join(names, ","), want)
	}
}

// The catalog's Linux firewall SQL over the captured tables: a DROP INPUT
// policy passes, a default (all ACCEPT) table fails.
func TestFirewallCheckOverCapturedTables(t *testing.T) {
	skipUnlessLittleEndian(t)
	cat, err := queries.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cat.Check("firewall")
	if !ok {
		t.Fatal("no firewall check in the catalog")
	}
	c, ok = c.On("linux")
	if !ok {
		t.Fatal("firewall check has no Linux SQL")
	}
	sql := c.Platforms["linux"].SQL
	tests := []struct {
		scenario string
		want     map[string]string
		outcome  queries.Outcome
	}{
		// rules counts the chain's own row too, as it would under osquery.
		{"firewall", map[string]string{"policy": "DROP", "rules": "9", "blocking_rules": "1", "compliant": "1"}, "pass"},
		{"defaults", map[string]string{"policy": "ACCEPT", "rules": "1", "blocking_rules": "0", "compliant": "0"}, "fail"},
	}
	for _, tt := range tests {
		rows := mustQuery(t, iptFixtureEngine(t, tt.scenario, "filter"), sql)
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows", tt.scenario, len(rows))
		}
		assertRow(t, tt.scenario, rows[0], tt.want)
		if got := c.Evaluate(rows).Outcome; got != tt.outcome {
			t.Errorf("%s: outcome %q, want %q", tt.scenario, got, tt.outcome)
		}
	}
}

func TestParseIPTEntriesRejectsMalformedBlobs(t *testing.T) {
	skipUnlessLittleEndian(t)
	info, blob := loadIPTFixture(t, "firewall", "filter")
	le := binary.NativeEndian
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(blob)
		f(b)
		return b
	}
	// Offsets in the filter fixture: the -i lo rule is the first entry at
	// 0 (152 bytes, standard target at 112); the LOGDROP jump is in the
	// entry at 896.
	tests := []struct {
		name string
		blob []byte
		info iptInfo
		err  string
	}{
		{"short blob", blob[:100], info, "header says"},
		{"entry count", blob, func() iptInfo { i := info; i.numEntries++; return i }(), "found 24"},
		{"next_offset too small", mutate(func(b []byte) { le.PutUint16(b[90:], 8) }), info, "bad offsets"},
		{"next_offset past end", mutate(func(b []byte) { le.PutUint16(b[90:], 0xfff0) }), info, "bad offsets"},
		{"target_offset past next", mutate(func(b []byte) { le.PutUint16(b[88:], 150) }), info, "bad offsets"},
		{"target size", mutate(func(b []byte) { le.PutUint16(b[112:], 4) }), info, "bad target size"},
		{"jump nowhere", mutate(func(b []byte) {
			le.PutUint32(b[findIPTJump(t, blob):], 12345)
		}), info, "not a chain"},
		{"no final ERROR", blob[:len(blob)-176], func() iptInfo {
			i := info
			i.size -= 176
			i.numEntries--
			return i
		}(), "does not end"},
		{"rule before any chain", blob, func() iptInfo { i := info; i.hookEntry[1] = 152; return i }(), "outside any chain"},
	}
	for _, tt := range tests {
		_, err := parseIPTEntries(tt.blob, tt.info)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
	}
}

// findIPTJump returns the offset of the verdict of the first standard
// target that jumps to a user chain (not a verdict, not a fall-through).
func findIPTJump(t *testing.T, blob []byte) int {
	t.Helper()
	le := binary.NativeEndian
	for off := 0; off+iptEntrySize <= len(blob); {
		next := int(le.Uint16(blob[off+90:]))
		to := off + int(le.Uint16(blob[off+88:]))
		if cString(blob[to+2:to+31]) == "" {
			if v := int32(le.Uint32(blob[to+32:])); v >= 0 && int(v) != off+next {
				return to + 32
			}
		}
		off += next
	}
	t.Fatal("no jump in the fixture")
	return 0
}

// FuzzParseIPTEntries: any blob yields rules or an error, never a panic.
func FuzzParseIPTEntries(f *testing.F) {
	skipUnlessLittleEndian(f)
	for _, p := range []string{"firewall/filter", "firewall/nat", "defaults/filter"} {
		sc, table, _ := strings.Cut(p, "/")
		ib, err := os.ReadFile(filepath.Join("testdata", "iptables", sc, table+".info"))
		if err != nil {
			f.Fatal(err)
		}
		eb, err := os.ReadFile(filepath.Join("testdata", "iptables", sc, table+".entries"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ib, eb)
	}
	f.Fuzz(func(t *testing.T, ib, eb []byte) {
		info, err := parseIPTInfo(ib)
		if err != nil {
			return
		}
		if rules, err := parseIPTEntries(eb, info); err == nil {
			iptablesRows(info.name, rules)
		}
	})
}

func TestIptablesNamesAndMissingSources(t *testing.T) {
	if got := iptTableNames([]byte("raw\nmangle\n\n nat \nfilter\n")); !reflect.DeepEqual(got, []string{"raw", "mangle", "nat", "filter"}) {
		t.Errorf("iptTableNames = %q", got)
	}
	// No /proc/net/ip_tables_names (module not loaded, nftables-only
	// kernel): no rows, no error. A fake root with the file has no kernel
	// tables behind it: no rows either.
	empty := newTestEngine(t, t.TempDir())
	if rows := mustQuery(t, empty, "SELECT * FROM iptables"); len(rows) != 0 {
		t.Errorf("empty root: %v", rows)
	}
	fake := newTestEngine(t, writeTree(t, map[string]string{"proc/net/ip_tables_names": "filter\n"}))
	if rows := mustQuery(t, fake, "SELECT * FROM iptables"); len(rows) != 0 {
		t.Errorf("fake root: %v", rows)
	}
}
