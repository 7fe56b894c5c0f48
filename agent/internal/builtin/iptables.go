package builtin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"
)

// iptables lists the legacy (x_tables) IPv4 rules the kernel holds, read
// the way osquery's libiptc-based table reads them, but without libiptc:
// for every table named in /proc/net/ip_tables_names the ipt_getinfo
// header and the ipt_entry blob come from getsockopt(IPT_SO_GET_INFO /
// IPT_SO_GET_ENTRIES) (iptables_linux.go) and are decoded here.
var iptablesTable = &tableDef{
	name: "iptables",
	columns: cols("filter_name TEXT", "chain TEXT", "policy TEXT", "target TEXT", "protocol INTEGER",
		"src_port TEXT", "dst_port TEXT", "src_ip TEXT", "src_mask TEXT", "iniface TEXT",
		"iniface_mask TEXT", "dst_ip TEXT", "dst_mask TEXT", "outiface TEXT", "outiface_mask TEXT",
		"match TEXT", "packets INTEGER", "bytes INTEGER"),
	gen: genIptables,
}

// Kernel ABI (include/uapi/linux/netfilter_ipv4/ip_tables.h, x_tables.h).
const (
	iptTableMaxName = 32  // XT_TABLE_MAXNAMELEN
	iptGetinfoSize  = 84  // sizeof(struct ipt_getinfo)
	iptEntrySize    = 112 // sizeof(struct ipt_entry): ipt_ip 84, nfcache 4, offsets 2+2, comefrom 4, counters 16
	iptXtHeaderSize = 32  // xt_entry_match / xt_entry_target header: u16 size, name[29], u8 revision
	iptNumHooks     = 5   // NF_INET_NUMHOOKS

	iptInvViaIn  = 0x01 // IPT_INV_VIA_IN
	iptInvViaOut = 0x02 // IPT_INV_VIA_OUT
	iptInvSrcIP  = 0x08 // IPT_INV_SRCIP
	iptInvDstIP  = 0x10 // IPT_INV_DSTIP
	iptInvProto  = 0x40 // XT_INV_PROTO

	ipprotoTCP = 6
	ipprotoUDP = 17
)

// iptHookNames are the built-in chains in NF_INET hook order, as libiptc
// names them.
var iptHookNames = [iptNumHooks]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// iptInfo is struct ipt_getinfo: where each built-in chain starts
// (hook_entry) and where its policy entry sits (underflow), as byte
// offsets into the entry blob.
type iptInfo struct {
	name       string
	validHooks uint32
	hookEntry  [iptNumHooks]uint32
	underflow  [iptNumHooks]uint32
	numEntries uint32
	size       uint32
}

// iptRule is one ipt_entry of a chain, in the chain's order. The last
// entry of every chain has tail set: for a built-in chain it is the policy
// (the hook's underflow, whose verdict and counters are the policy's); for
// a user-defined chain it is the implicit RETURN. Neither is a rule
// iptables lists, but the tail carries the chain's policy and counters.
type iptRule struct {
	chain   string
	builtin bool
	tail    bool

	target       string // ACCEPT, DROP, RETURN, QUEUE, a chain name, a module target (REJECT, LOG ...) or "" (no target)
	targetOffset uint16
	matches      []string // match module names, in order

	src, dst, smsk, dmsk      [4]byte
	iniface, outiface         string
	inifaceMask, outifaceMask [16]byte
	proto                     uint16
	flags, invflags           uint8
	packets, bytes            uint64

	hasPorts   bool // a tcp or udp match gave port ranges
	spts, dpts [2]uint16
}

// parseIPTInfo decodes struct ipt_getinfo in host byte order.
func parseIPTInfo(b []byte) (iptInfo, error) {
	if len(b) < iptGetinfoSize {
		return iptInfo{}, fmt.Errorf("ipt_getinfo: %d bytes, want %d", len(b), iptGetinfoSize)
	}
	le := binary.NativeEndian
	info := iptInfo{name: cString(b[:iptTableMaxName]), validHooks: le.Uint32(b[32:])}
	for i := range iptNumHooks {
		info.hookEntry[i] = le.Uint32(b[36+4*i:])
		info.underflow[i] = le.Uint32(b[56+4*i:])
	}
	info.numEntries = le.Uint32(b[76:])
	info.size = le.Uint32(b[80:])
	return info, nil
}

// parseIPTEntries decodes the entry table of ipt_get_entries (without its
// 32-byte name and size header) in host byte order. It follows libiptc's
// parse_table: a hook entry offset starts a built-in chain, an ERROR
// target starts a user-defined chain (its data is the chain's name), the
// last entry of each chain is its policy or RETURN, and the final ERROR
// entry ends the table. Standard targets (empty name) carry a verdict:
// negative for ACCEPT/DROP/QUEUE/RETURN, else the offset jumped to, which
// names a user chain, or the next entry for a rule without a target.
func parseIPTEntries(blob []byte, info iptInfo) ([]iptRule, error) {
	if uint64(len(blob)) < uint64(info.size) {
		return nil, fmt.Errorf("ipt entries: %d bytes, header says %d", len(blob), info.size)
	}
	blob = blob[:info.size]
	le := binary.NativeEndian

	type entry struct {
		off, next uint32
		rule      iptRule
		// for the first pass
		errorName string // ERROR target's data: chain name, or "ERROR" at the end
		isError   bool
		verdict   int32
		standard  bool
	}
	var ents []entry
	for off := uint32(0); off < info.size; {
		e := blob[off:]
		if len(e) < iptEntrySize {
			return nil, fmt.Errorf("ipt entry at %d: truncated", off)
		}
		targetOff, next := le.Uint16(e[88:]), le.Uint16(e[90:])
		if next < iptEntrySize || int(next) > len(e) || targetOff < iptEntrySize ||
			int(targetOff)+iptXtHeaderSize > int(next) {
			return nil, fmt.Errorf("ipt entry at %d: bad offsets (target %d, next %d)", off, targetOff, next)
		}
		e = e[:next]
		r := iptRule{targetOffset: targetOff}
		copy(r.src[:], e[0:4])
		copy(r.dst[:], e[4:8])
		copy(r.smsk[:], e[8:12])
		copy(r.dmsk[:], e[12:16])
		r.iniface, r.outiface = cString(e[16:32]), cString(e[32:48])
		copy(r.inifaceMask[:], e[48:64])
		copy(r.outifaceMask[:], e[64:80])
		r.proto, r.flags, r.invflags = le.Uint16(e[80:]), e[82], e[83]
		r.packets, r.bytes = le.Uint64(e[96:]), le.Uint64(e[104:])

		// Matches (struct xt_entry_match) fill the space up to the target.
		for m := e[iptEntrySize:targetOff]; len(m) > 0; {
			size := le.Uint16(m)
			if size < iptXtHeaderSize || int(size) > len(m) {
				return nil, fmt.Errorf("ipt entry at %d: bad match size %d", off, size)
			}
			name, data := cString(m[2:31]), m[iptXtHeaderSize:size]
			r.matches = append(r.matches, name)
			// struct xt_tcp and xt_udp both begin u16 spts[2], dpts[2].
			if !r.hasPorts && len(data) >= 8 &&
				(r.proto == ipprotoTCP && name == "tcp" || r.proto == ipprotoUDP && name == "udp") {
				r.hasPorts = true
				r.spts = [2]uint16{le.Uint16(data[0:]), le.Uint16(data[2:])}
				r.dpts = [2]uint16{le.Uint16(data[4:]), le.Uint16(data[6:])}
			}
			m = m[size:]
		}

		t := e[targetOff:]
		tsize := le.Uint16(t)
		if tsize < iptXtHeaderSize || int(tsize) > len(t) {
			return nil, fmt.Errorf("ipt entry at %d: bad target size %d", off, tsize)
		}
		ent := entry{off: off, next: uint32(next), rule: r}
		tname, tdata := cString(t[2:31]), t[iptXtHeaderSize:tsize]
		switch tname {
		case "": // XT_STANDARD_TARGET
			if len(tdata) < 4 {
				return nil, fmt.Errorf("ipt entry at %d: short standard target", off)
			}
			ent.standard, ent.verdict = true, int32(le.Uint32(tdata))
		case "ERROR": // XT_ERROR_TARGET
			ent.isError, ent.errorName = true, cString(tdata)
		default:
			ent.rule.target = tname
		}
		ents = append(ents, ent)
		off += uint32(next)
	}
	if info.numEntries != 0 && uint32(len(ents)) != info.numEntries {
		return nil, fmt.Errorf("ipt entries: found %d, header says %d", len(ents), info.numEntries)
	}
	if len(ents) == 0 || !ents[len(ents)-1].isError {
		return nil, errors.New("ipt entries: table does not end with an ERROR entry")
	}

	hookAt := map[uint32]int{}
	for h := range iptNumHooks {
		if info.validHooks&(1<<h) != 0 {
			hookAt[info.hookEntry[h]] = h
		}
	}

	// First pass: chain of every entry, and the offsets a jump may target
	// (a user chain's first entry, right after its ERROR head).
	chainAt := map[uint32]string{}
	var chain string
	var builtin bool
	for i := range ents[:len(ents)-1] {
		en := &ents[i]
		if en.isError {
			chain, builtin = en.errorName, false
			if i+1 < len(ents) {
				chainAt[ents[i+1].off] = chain
			}
			continue
		}
		if h, ok := hookAt[en.off]; ok {
			chain, builtin = iptHookNames[h], true
		}
		if chain == "" {
			return nil, fmt.Errorf("ipt entry at %d: outside any chain", en.off)
		}
		en.rule.chain, en.rule.builtin = chain, builtin
	}

	// Second pass: resolve standard verdicts, mark each chain's last entry.
	var out []iptRule
	for i, en := range ents[:len(ents)-1] {
		if en.isError {
			continue
		}
		r := en.rule
		if en.standard {
			switch {
			case en.verdict < 0:
				r.target = iptVerdictName(en.verdict)
			case uint32(en.verdict) == en.off+en.next:
				r.target = "" // falls through to the next rule: no target
			default:
				name, ok := chainAt[uint32(en.verdict)]
				if !ok {
					return nil, fmt.Errorf("ipt entry at %d: jump to %d, not a chain", en.off, en.verdict)
				}
				r.target = name
			}
		}
		// A chain ends where the next one starts (an ERROR head or a hook
		// entry) or at the table's final ERROR entry.
		nxt := ents[i+1]
		_, nextIsHook := hookAt[nxt.off]
		r.tail = nxt.isError || nextIsHook
		out = append(out, r)
	}
	return out, nil
}

// iptVerdictName is libiptc's standard_target_map: verdicts are
// -NF_<verdict>-1, RETURN is XT_RETURN (-NF_REPEAT-1).
func iptVerdictName(v int32) string {
	switch v {
	case -1:
		return "DROP"
	case -2:
		return "ACCEPT"
	case -4:
		return "QUEUE"
	case -5:
		return "RETURN"
	}
	return strconv.Itoa(int(v))
}

// iptablesRows turns one table's entries into osquery's rows: per chain,
// one row per rule followed by one row for the chain itself. Every row
// carries the chain's policy and the policy's packet and byte counters
// (built-in chains; "" and 0 for user-defined ones) — osquery reports no
// per-rule counters. The chain row has no rule columns (NULL).
func iptablesRows(filter string, rules []iptRule) []row {
	var out []row
	for start := 0; start < len(rules); {
		end := start
		for end < len(rules) && !rules[end].tail {
			end++
		}
		if end == len(rules) { // no tail: cannot happen with parseIPTEntries
			break
		}
		tail := rules[end]
		chain := row{"filter_name": filter, "chain": tail.chain, "policy": "", "packets": int64(0), "bytes": int64(0)}
		if tail.builtin {
			chain["policy"] = tail.target
			chain["packets"], chain["bytes"] = int64(tail.packets), int64(tail.bytes)
		}
		for _, r := range rules[start:end] {
			out = append(out, iptRuleRow(chain, r))
		}
		out = append(out, chain)
		start = end + 1
	}
	return out
}

func iptRuleRow(chain row, r iptRule) row {
	out := make(row, len(chain)+13)
	for k, v := range chain {
		out[k] = v
	}
	inv := func(flag uint8) string {
		if r.invflags&flag != 0 {
			return "!"
		}
		return ""
	}
	out["target"] = r.target
	out["match"] = "no"
	if r.targetOffset != 0 { // as osquery: always, the target follows the entry header
		out["match"] = "yes"
	}
	out["src_port"], out["dst_port"] = "", ""
	if r.hasPorts {
		out["src_port"] = fmt.Sprintf("%d:%d", r.spts[0], r.spts[1])
		out["dst_port"] = fmt.Sprintf("%d:%d", r.dpts[0], r.dpts[1])
	}
	if r.invflags&iptInvProto != 0 {
		out["protocol"] = "!" + strconv.Itoa(int(r.proto))
	} else {
		out["protocol"] = int64(r.proto)
	}
	out["iniface"], out["outiface"] = "all", "all"
	if r.iniface != "" {
		out["iniface"] = inv(iptInvViaIn) + r.iniface
	}
	if r.outiface != "" {
		out["outiface"] = inv(iptInvViaOut) + r.outiface
	}
	out["src_ip"] = inv(iptInvSrcIP) + netip.AddrFrom4(r.src).String()
	out["dst_ip"] = inv(iptInvDstIP) + netip.AddrFrom4(r.dst).String()
	out["src_mask"] = netip.AddrFrom4(r.smsk).String()
	out["dst_mask"] = netip.AddrFrom4(r.dmsk).String()
	out["iniface_mask"] = ifaceMaskHex(r.inifaceMask)
	out["outiface_mask"] = ifaceMaskHex(r.outifaceMask)
	return out
}

// ifaceMaskHex is osquery's rendering: upper-case hex up to the first 0.
func ifaceMaskHex(m [16]byte) string {
	var b strings.Builder
	for _, c := range m {
		if c == 0 {
			break
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// iptTableNames parses /proc/net/ip_tables_names: one table per line.
func iptTableNames(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func genIptables(ctx context.Context, e *Engine) ([]row, error) {
	b, err := e.fs.read("/proc/net/ip_tables_names")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // ip_tables not loaded, or an nftables-only kernel
	}
	if err != nil {
		return nil, nil // osquery logs and returns no rows
	}
	// The rules live in the running kernel, not in a file tree: a fake root
	// has none.
	if !e.fs.live() {
		return nil, nil
	}
	var rows []row
	for _, name := range iptTableNames(b) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, blob, err := readIPTable(name)
		if err != nil {
			// As libiptc's iptc_init failing in osquery: no access
			// (CAP_NET_ADMIN) or no such table gives no rows, silently.
			continue
		}
		rules, err := parseIPTEntries(blob, info)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, iptablesRows(name, rules)...)
	}
	return rows, nil
}
