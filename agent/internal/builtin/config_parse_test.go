package builtin

import (
	"reflect"
	"testing"
)

func TestParseAptConf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []aptSetting
	}{
		{"flat keys", `APT::Periodic::Update-Package-Lists "1";` + "\n" + `APT::Periodic::Unattended-Upgrade "1";`,
			[]aptSetting{{key: "apt::periodic::update-package-lists", value: "1"}, {key: "apt::periodic::unattended-upgrade", value: "1"}}},
		{"nested scopes", `APT { Periodic { Unattended-Upgrade "0"; }; };`,
			[]aptSetting{{key: "apt::periodic::unattended-upgrade", value: "0"}}},
		{"scope with colons", "APT::Periodic {\n  Enable \"1\";\n};",
			[]aptSetting{{key: "apt::periodic::enable", value: "1"}}},
		{"comments of every style", "// APT::A \"1\";\n# APT::B \"1\";\n/* APT::C \"1\";\n */ APT::D \"1\"; // tail\nAPT::E \"2\"; # tail",
			[]aptSetting{{key: "apt::d", value: "1"}, {key: "apt::e", value: "2"}}},
		{"slashes inside quotes are not comments", `Acquire::http::Proxy "http://proxy:3128/";`,
			[]aptSetting{{key: "acquire::http::proxy", value: "http://proxy:3128/"}}},
		{"hash inside quotes", `X::Y "a#b";`, []aptSetting{{key: "x::y", value: "a#b"}}},
		{"list elements are dropped", "Unattended-Upgrade::Allowed-Origins {\n \"${distro_id}:${distro_codename}\";\n};\nA::B \"c\";",
			[]aptSetting{{key: "a::b", value: "c"}}},
		{"clear directive", "#clear APT::Periodic;", []aptSetting{{key: "apt::periodic", clear: true}}},
		{"include is not followed", `#include "/etc/other.conf";`, nil},
		{"unquoted value and missing final semicolon", "APT::Periodic::Enable 0", []aptSetting{{key: "apt::periodic::enable", value: "0"}}},
		{"unterminated quote", `A::B "open`, []aptSetting{{key: "a::b", value: "open"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAptConf([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAptConfPartValidFollowsAptFilenameRules(t *testing.T) {
	for name, want := range map[string]bool{
		"20auto-upgrades":                   true,
		"50unattended-upgrades":             true,
		"99local.conf":                      true,
		"20auto-upgrades.dpkg-old":          false,
		"50unattended-upgrades.ucf-dist":    false,
		"99zz~":                             false,
		"has space":                         false,
		"":                                  false,
		"01autoremove-postinst.conf.backup": false,
	} {
		if got := aptConfPartValid(name); got != want {
			t.Errorf("aptConfPartValid(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseKeyfile(t *testing.T) {
	kf := parseKeyfile([]byte(`# comment
; also a comment
[commands]
apply_updates = yes
Upgrade_Type: security

[org/gnome/desktop/session]
idle-delay=uint32 900
idle-delay=uint32 600
`))
	for _, tt := range []struct {
		group, key, want string
		fold             bool
	}{
		{"commands", "apply_updates", "yes", false},
		{"COMMANDS", "APPLY_UPDATES", "yes", true},
		{"commands", "upgrade_type", "security", true},
		{"org/gnome/desktop/session", "idle-delay", "uint32 600", false},
	} {
		get := kf.get
		if tt.fold {
			get = kf.getFold
		}
		if got, ok := get(tt.group, tt.key); !ok || got != tt.want {
			t.Errorf("[%s] %s = %q, %v; want %q", tt.group, tt.key, got, ok, tt.want)
		}
	}
	if _, ok := kf.get("commands", "missing"); ok {
		t.Error("missing key found")
	}
}

func TestParseKeyfileRecordsKDEImmutability(t *testing.T) {
	kf := parseKeyfile([]byte("[Daemon]\nLockGrace[$i]=0\nTimeout=5\n[Locked][$i]\nA=1\n"))
	if v, _ := kf.get("Daemon", "LockGrace"); v != "0" {
		t.Errorf("LockGrace = %q", v)
	}
	for _, tt := range []struct {
		group, key string
		want       bool
	}{
		{"Daemon", "LockGrace", true}, {"Daemon", "Timeout", false}, {"Locked", "A", true},
	} {
		if got := kf.isImmutable(tt.group, tt.key); got != tt.want {
			t.Errorf("isImmutable(%s, %s) = %v", tt.group, tt.key, got)
		}
	}
	whole := parseKeyfile([]byte("[$i]\n[Daemon]\nTimeout=5\n"))
	if !whole.isImmutable("Daemon", "Timeout") {
		t.Error("file-wide [$i] not honoured")
	}
}

func TestParseBoolishAndGVariantInt(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "Yes": true, "1": true, "on": true, "'false'": false, "no": false, "0": false} {
		if got, ok := parseBoolish(in); !ok || got != want {
			t.Errorf("parseBoolish(%q) = %v, %v", in, got, ok)
		}
	}
	if _, ok := parseBoolish("maybe"); ok {
		t.Error("parseBoolish accepted maybe")
	}
	for in, want := range map[string]int64{"uint32 900": 900, "300": 300, " int32 0 ": 0} {
		if got, ok := parseGVariantInt(in); !ok || got != want {
			t.Errorf("parseGVariantInt(%q) = %d, %v", in, got, ok)
		}
	}
	if _, ok := parseGVariantInt("'abc'"); ok {
		t.Error("parseGVariantInt accepted a string")
	}
}

func TestParseDconfProfile(t *testing.T) {
	got := parseDconfProfile([]byte("user-db:user\nsystem-db:local\nsystem-db:site\n# system-db:off\nservice-db:ibus\nsystem-db:../evil\n"))
	if want := []string{"local", "site"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseUdevData(t *testing.T) {
	got := parseUdevData([]byte("S:disk/by-uuid/1234\nE:ID_FS_TYPE=crypto_LUKS\nE:ID_FS_UUID=6f6e2d0a\nE:ID_FS_LABEL=a=b\nI:123\n"))
	want := map[string]string{"ID_FS_TYPE": "crypto_LUKS", "ID_FS_UUID": "6f6e2d0a", "ID_FS_LABEL": "a=b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func TestCryptSubtypeCountsOnlyEncryptingMappings(t *testing.T) {
	for uuid, want := range map[string]string{
		"CRYPT-LUKS2-6f6e2d0a8c8b4a8e9d6a3b1c2d3e4f50-dm_crypt-0": "LUKS2",
		"CRYPT-LUKS1-0b9f4b8e2a514c3e9f431f3c44f0c2aa-luks-0b9f":  "LUKS1",
		"CRYPT-PLAIN-swap":                     "PLAIN",
		"CRYPT-BITLK-1234-usb":                 "BITLK",
		"CRYPT-VERITY-abcd-root":               "",
		"CRYPT-INTEGRITY-data":                 "",
		"CRYPT-SUBDEV-LUKS2-abcd-x_dif":        "",
		"LVM-Xk2jF4aLq0bYc8dE1fG2hI3jK4lM5nO6": "",
		"":                                     "",
	} {
		if got := cryptSubtype(uuid); got != want {
			t.Errorf("cryptSubtype(%q) = %q, want %q", uuid, got, want)
		}
	}
}

func TestParseLUKSHeader(t *testing.T) {
	tests := []struct {
		fixture string
		ok      bool
		want    luksHeader
	}{
		{"luks2-aes-xts.hdr", true, luksHeader{version: 2, cipher: "aes-xts-plain64", uuid: "6f6e2d0a-8c8b-4a8e-9d6a-3b1c2d3e4f50", hdrSize: 16384}},
		{"luks1-aes-cbc.hdr", true, luksHeader{version: 1, cipher: "aes-cbc-essiv:sha256", uuid: "0b9f4b8e-2a51-4c3e-9f43-1f3c44f0c2aa"}},
		// The binary header alone still identifies the container.
		{"luks2-truncated.hdr", true, luksHeader{version: 2, uuid: "6f6e2d0a-8c8b-4a8e-9d6a-3b1c2d3e4f50", hdrSize: 16384}},
		{"not-luks.hdr", false, luksHeader{}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, ok := parseLUKSHeader(readFixture(t, "testdata/luks/"+tt.fixture))
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLUKS2CipherUsesFirstCryptSegment(t *testing.T) {
	area := []byte(`{"segments":{"10":{"type":"crypt","encryption":"twofish-xts-plain64"},"1":{"type":"linear"},"2":{"type":"crypt","encryption":"aes-xts-plain64"}}}` + "\x00\x00")
	if got := luks2Cipher(area); got != "aes-xts-plain64" {
		t.Errorf("got %q", got)
	}
	if got := luks2Cipher([]byte("{not json")); got != "" {
		t.Errorf("bad JSON gave %q", got)
	}
}
