package pkg

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetproof/fleetproof/internal/settings"
)

// sourceKeys lists the Key fields of the Fields table in a config.go, read
// from source because the config packages are internal to agent/ and
// collector/.
func sourceKeys(t *testing.T, path string) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	ast.Inspect(file, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Key" {
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				k, _ := strconv.Unquote(lit.Value)
				keys = append(keys, k)
			}
		}
		return true
	})
	if len(keys) == 0 {
		t.Fatalf("%s: no configuration keys found", path)
	}
	slices.Sort(keys)
	return keys
}

// commentedKey matches "# key: value" lines and the indented lines of a
// commented mapping under such a key.
var commentedKey = regexp.MustCompile(`^# ( *)([a-z_]+:.*)$`)

// TestConfigExamples requires each example to document every key its
// program accepts and nothing else, and to be valid configuration once
// uncommented, in the form the program's own YAML reader takes.
func TestConfigExamples(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		example, config string
	}{
		{"agent/agent.yaml.example", "agent/internal/config/config.go"},
		{"collector/collector.yaml.example", "collector/internal/config/config.go"},
	} {
		t.Run(tc.example, func(t *testing.T) {
			body := asset(t, tc.example)
			values, err := settings.ParseYAML([]byte(body))
			if err != nil {
				t.Fatalf("as shipped: %v", err)
			}
			if len(values) != 0 {
				t.Errorf("as shipped it sets %v; every key should be commented out", values)
			}
			var uncommented []string
			for _, l := range strings.Split(body, "\n") {
				if m := commentedKey.FindStringSubmatch(l); m != nil {
					uncommented = append(uncommented, m[1]+m[2])
				}
			}
			values, err = settings.ParseYAML([]byte(strings.Join(uncommented, "\n")))
			if err != nil {
				t.Fatalf("uncommented: %v\n%s", err, strings.Join(uncommented, "\n"))
			}
			var documented []string
			for k := range values {
				documented = append(documented, k)
			}
			slices.Sort(documented)
			if want := sourceKeys(t, filepath.Join(root, tc.config)); !slices.Equal(documented, want) {
				t.Errorf("documented keys %v\nprogram's keys   %v", documented, want)
			}
		})
	}
}
