package tools

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// commandLike is a quoted word that can be a command name.
var commandLike = regexp.MustCompile(`^"[a-z0-9][a-z0-9._+-]*"$`)

// base are commands of every Debian system and Go toolchain, which
// commands.txt need not list.
var base = map[string]bool{"go": true, "true": true, "sh": true}

func TestEveryListedCommandIsInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the commands are for the build and the root tests (make test runs make deps first)")
	}
	for _, c := range Commands() {
		if !c.Installed() {
			t.Error(c)
		}
	}
}

func TestNeedNamesTheFix(t *testing.T) {
	commandsTxt = "# test\nno-such-command-podint  pkg-x  the test\ngo - base\n"
	defer func() { commandsTxt = saved }()
	err := Need()
	if err == nil || !strings.Contains(err.Error(), "install no-such-command-podint (Debian package pkg-x, for the test): run `make deps`") {
		t.Fatalf("Need() = %v", err)
	}
	if err := Need("go"); err != nil {
		t.Fatalf("Need(go) = %v", err)
	}
	if err := Need("unlisted"); err == nil || !strings.Contains(err.Error(), "not in test/tools/commands.txt") {
		t.Fatalf("Need(unlisted) = %v", err)
	}
}

var saved = commandsTxt

// TestEveryExecutedCommandIsListed reads the project's Go sources for the
// commands they exec by name (exec.Command, exec.CommandContext,
// exec.LookPath, the harness's run helpers, and command lines written as
// [][]string) and fails for any that commands.txt does not list, so a new
// one cannot slip past `make deps` again.
func TestEveryExecutedCommandIsListed(t *testing.T) {
	listed := map[string]bool{}
	for _, c := range Commands() {
		listed[c.Name] = true
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		for _, name := range execNames(t, path) {
			rel, _ := filepath.Rel(root, path)
			found[name] = append(found[name], rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("no exec'd command found: the source scan is broken")
	}
	var names []string
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !listed[n] && !base[n] {
			t.Errorf("%s runs %q, which test/tools/commands.txt does not list: add it with its Debian package", found[n][0], n)
		}
	}
	for _, want := range []string{"ip", "nft", "ethtool", "tshark"} {
		if _, ok := found[want]; !ok {
			t.Errorf("the scan did not find %q, which the tests run: the scan is broken", want)
		}
	}
}

// execNames returns the command names path's code runs by name.
func execNames(t *testing.T, path string) []string {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var out []string
	lit := func(e ast.Expr) {
		if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := strconv.Unquote(b.Value); err == nil && s != "" && !strings.ContainsAny(s, " /") {
				out = append(out, s)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			name := callName(n.Fun)
			switch {
			case (name == "exec.Command" || name == "exec.LookPath" || name == "run" || name == "runIn") && len(n.Args) > 0:
				lit(n.Args[0])
			case name == "exec.CommandContext" && len(n.Args) > 1:
				lit(n.Args[1])
			}
		case *ast.CompositeLit:
			if outer, ok := n.Type.(*ast.ArrayType); ok {
				if inner, ok := outer.Elt.(*ast.ArrayType); ok && isIdent(inner.Elt, "string") {
					// command lines run in a loop; rows that do not start
					// with a command-like word (CNI_ARGS pairs) are data
					for _, e := range n.Elts {
						if row, ok := e.(*ast.CompositeLit); ok && len(row.Elts) > 0 {
							if b, ok := row.Elts[0].(*ast.BasicLit); ok && commandLike.MatchString(b.Value) {
								lit(row.Elts[0])
							}
						}
					}
				}
			}
		}
		return true
	})
	return out
}

func callName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	}
	return ""
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
