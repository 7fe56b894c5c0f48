package pkg

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ks "github.com/kardianos/service"

	"github.com/fleetproof/fleetproof/packaging"
)

// repoRoot is the module root, found from this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", dir, err)
	}
	return dir
}

// asset returns an embedded file of packaging/linux.
func asset(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(packaging.Linux, "linux/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stripComments drops the leading comment block of a unit file: the
// packaged unit explains itself, the agent-written one does not.
func stripComments(unit string) string {
	var keep []string
	for _, l := range strings.Split(unit, "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// agentDefinition reads what agent/internal/service feeds kardianos for
// systemd out of its source, type-checked so constant expressions such as
// int(RestartDelay/time.Second) are evaluated the way the compiler does.
// Importing the package is not possible (it is internal to agent/), and a
// copy of its values here would drift silently.
type agentDefinition struct {
	name, description string
	unitTemplate      string   // the SystemdScript option, formatted
	args              []string // the "run" arguments of the default service
	dependencies      []string // for linux-systemd
	restart           string
}

func readAgentDefinition(t *testing.T) agentDefinition {
	t.Helper()
	path := filepath.Join(repoRoot(t), "agent", "internal", "service", "definition.go")
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	conf := types.Config{
		Importer: stdOnly{importer.ForCompiler(fset, "source", nil)},
		// Uses of kardianos' types fail against the empty stand-in; the
		// constants this test reads do not depend on them.
		Error: func(error) {},
	}
	pkg, _ := conf.Check("service", fset, []*ast.File{file}, info)

	var d agentDefinition
	str := func(e ast.Expr) string {
		tv, ok := info.Types[e]
		if !ok || tv.Value == nil || tv.Value.Kind() != constant.String {
			t.Fatalf("%s: not a string constant", fset.Position(e.Pos()))
		}
		return constant.StringVal(tv.Value)
	}
	strs := func(e ast.Expr) []string {
		lit, ok := e.(*ast.CompositeLit)
		if !ok {
			t.Fatalf("%s: not a composite literal", fset.Position(e.Pos()))
		}
		var out []string
		for _, el := range lit.Elts {
			out = append(out, str(el))
		}
		return out
	}
	constStr := func(name string) string {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok {
			t.Fatalf("definition.go: no constant %s", name)
		}
		return constant.StringVal(c.Val())
	}
	d.name, d.description = constStr("Name"), constStr("Description")

	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec: // var systemdUnit = fmt.Sprintf(format, consts...)
			if len(n.Names) == 1 && n.Names[0].Name == "systemdUnit" {
				call := n.Values[0].(*ast.CallExpr)
				var args []any
				for _, a := range call.Args[1:] {
					v, ok := info.Types[a]
					if !ok || v.Value == nil {
						t.Fatalf("%s: systemdUnit argument is not constant", fset.Position(a.Pos()))
					}
					i, _ := constant.Int64Val(v.Value)
					args = append(args, i)
				}
				d.unitTemplate = fmt.Sprintf(str(call.Args[0]), args...)
			}
		case *ast.AssignStmt: // args := []string{"run"}
			if id, ok := n.Lhs[0].(*ast.Ident); ok && id.Name == "args" && n.Tok == token.DEFINE {
				d.args = strs(n.Rhs[0])
			}
		case *ast.CaseClause: // case PlatformSystemd: c.Dependencies = []string{...}
			for _, e := range n.List {
				if id, ok := e.(*ast.Ident); ok && id.Name == "PlatformSystemd" {
					for _, st := range n.Body {
						if as, ok := st.(*ast.AssignStmt); ok {
							if sel, ok := as.Lhs[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "Dependencies" {
								d.dependencies = strs(as.Rhs[0])
							}
						}
					}
				}
			}
		case *ast.KeyValueExpr: // "Restart": "always"
			if k, ok := n.Key.(*ast.BasicLit); ok && k.Value == `"Restart"` {
				d.restart = str(n.Value)
			}
		}
		return true
	})
	if d.unitTemplate == "" || d.args == nil || d.dependencies == nil || d.restart == "" {
		t.Fatalf("definition.go changed shape; found %+v", d)
	}
	return d
}

// stdOnly imports the standard library from source and gives every other
// import an empty package.
type stdOnly struct{ std types.Importer }

func (s stdOnly) Import(path string) (*types.Package, error) {
	if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
		p := types.NewPackage(path, filepath.Base(path))
		p.MarkComplete()
		return p, nil
	}
	return s.std.Import(path)
}

// TestAgentUnitMatchesInstall renders the unit "fleetproof-agent install"
// writes, through kardianos/service itself with the agent's definition, and
// requires the packaged unit to be the same, so an agent installed by
// package and one installed by hand restart, stop and read their
// environment identically. kardianos writes a user-mode unit into HOME
// (a temp dir); with no systemctl on PATH nothing else is touched.
func TestAgentUnitMatchesInstall(t *testing.T) {
	d := readAgentDefinition(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("PATH", t.TempDir())

	var backend ks.System
	for _, s := range ks.AvailableSystems() {
		if s.String() == "linux-systemd" {
			backend = s
		}
	}
	if backend == nil {
		t.Fatal("kardianos has no linux-systemd backend")
	}
	svc, err := backend.New(nil, &ks.Config{
		Name:         d.name,
		Description:  d.description,
		Executable:   "/usr/bin/fleetproof-agent",
		Arguments:    d.args,
		Dependencies: d.dependencies,
		Option:       ks.KeyValue{"Restart": d.restart, "SystemdScript": d.unitTemplate, "UserService": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	installErr := svc.Install() // fails at "systemctl enable": not on PATH
	b, err := os.ReadFile(filepath.Join(home, ".config", "systemd", "user", d.name+".service"))
	if err != nil {
		t.Fatalf("kardianos wrote no unit (install: %v): %v", installErr, err)
	}
	packaged := stripComments(asset(t, "agent/fleetproof-agent.service"))
	if packaged != string(b) {
		t.Errorf("packaging/linux/agent/fleetproof-agent.service differs from what \"fleetproof-agent install\" writes.\npackaged:\n%s\ninstall writes:\n%s", packaged, b)
	}
}

// TestUnitsVerify has systemd's own parser check both units, with the
// binaries they name replaced by a temp executable (verify insists that
// ExecStart exists).
func TestUnitsVerify(t *testing.T) {
	// Optional even under CI: systemd is not among the packages CI installs.
	sdAnalyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; the units are not verified by systemd")
	}
	for _, tc := range []struct{ unit, binary string }{
		{"agent/fleetproof-agent.service", "/usr/bin/fleetproof-agent"},
		{"collector/fleetproof-collector.service", "/usr/bin/fleetproof-collector"},
	} {
		t.Run(filepath.Base(tc.unit), func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, "bin")
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			body := asset(t, tc.unit)
			if !strings.Contains(body, "ExecStart="+tc.binary+" ") {
				t.Fatalf("%s does not start %s", tc.unit, tc.binary)
			}
			unit := filepath.Join(dir, filepath.Base(tc.unit))
			if err := os.WriteFile(unit, []byte(strings.ReplaceAll(body, tc.binary, exe)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(sdAnalyze, "verify", unit).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}

// TestCollectorUnit pins what the brief of the collector service is: its
// own user, its config file, its data directory, restarted like the agent.
func TestCollectorUnit(t *testing.T) {
	unit := asset(t, "collector/fleetproof-collector.service")
	for _, want := range []string{
		"\nUser=fleetproof\n", "\nGroup=fleetproof\n",
		"\nExecStart=/usr/bin/fleetproof-collector serve -config /etc/fleetproof/collector.yaml\n",
		"\nWorkingDirectory=/var/lib/fleetproof-collector\n",
		"\nRestart=always\n", "\nRestartSec=5\n", "\nStartLimitIntervalSec=0\n",
		"\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("collector unit lacks %q", strings.TrimSpace(want))
		}
	}
}
