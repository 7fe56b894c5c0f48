package builtin

import (
	"strings"
)

// aptSetting is one assignment from an apt.conf(5) file, in file order.
// Keys are lower-cased because apt's configuration tree is
// case-insensitive. clear marks a "#clear key;" directive.
type aptSetting struct {
	key, value string
	clear      bool
}

type aptToken struct {
	text   string
	quoted bool
}

// parseAptConf parses apt.conf(5) syntax: "A::B::C "v";", nested
// "A { B { C "v"; }; };" scopes, // and # line comments (outside quotes,
// except the #clear/#include directives) and /* */ block comments.
// #include is not followed: distributions do not use it in apt.conf.d.
func parseAptConf(b []byte) []aptSetting {
	var out []aptSetting
	var scope []string
	var pending []aptToken
	statement := func() {
		defer func() { pending = pending[:0] }()
		if len(pending) == 0 {
			return
		}
		if pending[0].text == "#clear" && !pending[0].quoted {
			for _, t := range pending[1:] {
				out = append(out, aptSetting{key: aptKey(scope, t.text), clear: true})
			}
			return
		}
		if len(pending) >= 2 && !strings.HasPrefix(pending[0].text, "#") {
			out = append(out, aptSetting{key: aptKey(scope, pending[0].text), value: pending[1].text})
		}
		// A lone value inside a scope is a list element; no check here
		// reads lists, so it is dropped.
	}
	toks := tokenizeAptConf(string(b))
	for _, t := range toks {
		switch {
		case t.quoted:
			pending = append(pending, t)
		case t.text == ";":
			statement()
		case t.text == "{":
			name := ""
			if len(pending) > 0 {
				name = pending[0].text
			}
			scope = append(scope, name)
			pending = pending[:0]
		case t.text == "}":
			statement()
			if len(scope) > 0 {
				scope = scope[:len(scope)-1]
			}
		default:
			pending = append(pending, t)
		}
	}
	statement()
	return out
}

func aptKey(scope []string, tag string) string {
	parts := make([]string, 0, len(scope)+1)
	for _, s := range scope {
		if s != "" {
			parts = append(parts, strings.Trim(s, ":"))
		}
	}
	parts = append(parts, strings.Trim(tag, ":"))
	return strings.ToLower(strings.Join(parts, "::"))
}

func tokenizeAptConf(s string) []aptToken {
	var toks []aptToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			i = lineEnd(s, i)
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if end := strings.Index(s[i+2:], "*/"); end >= 0 {
				i += end + 4
			} else {
				i = len(s)
			}
		case c == '#' && !strings.HasPrefix(s[i:], "#clear") && !strings.HasPrefix(s[i:], "#include"):
			i = lineEnd(s, i)
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				toks = append(toks, aptToken{text: s[i+1:], quoted: true})
				i = len(s)
				continue
			}
			toks = append(toks, aptToken{text: s[i+1 : i+1+end], quoted: true})
			i += end + 2
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, aptToken{text: string(c)})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n{};\"", rune(s[j])) &&
				!(s[j] == '/' && j+1 < len(s) && (s[j+1] == '/' || s[j+1] == '*')) {
				j++
			}
			toks = append(toks, aptToken{text: s[i:j]})
			i = j
		}
	}
	return toks
}

func lineEnd(s string, i int) int {
	if n := strings.IndexByte(s[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(s)
}

// aptConfPartValid mirrors apt's filter for files in apt.conf.d: only
// [A-Za-z0-9_.-] names, with no extension or ".conf"; editor backups and
// dpkg leftovers (.dpkg-old, .ucf-dist, ~) are ignored by apt too.
func aptConfPartValid(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:] == "conf"
	}
	return true
}
