// Package countscan finds, in the module's source, the counters some code
// path increments: the tests that guard "never export a counter that no
// code increments" use it.
package countscan

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Increments are what the non-test Go files of a module do to counters.
type Increments struct {
	// Fields holds every name N written as X.N.Add(...), X.N.Store(...)
	// or inc(&X.N) (an atomic counter field incremented or set).
	Fields map[string]bool
	// Args holds every identifier passed to a method or function named
	// drop (X.drop(DropReason)): drop reasons some path counts.
	DropArgs map[string]bool
}

// ModuleRoot returns the directory holding go.mod, from the working
// directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Scan parses every non-test .go file under root (skipping testdata and
// hidden directories) and collects the increments. skipFile, if not nil,
// excludes files (by path relative to root) whose writes do not count, such
// as code that only sums or copies counters.
func Scan(root string, skipFile func(rel string) bool) (*Increments, error) {
	inc := &Increments{Fields: map[string]bool{}, DropArgs: map[string]bool{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if skipFile != nil && skipFile(filepath.ToSlash(rel)) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch fun := call.Fun.(type) {
			case *ast.SelectorExpr:
				switch fun.Sel.Name {
				case "Add", "Store":
					if field, ok := fun.X.(*ast.SelectorExpr); ok {
						inc.Fields[field.Sel.Name] = true
					}
				case "drop":
					for _, a := range call.Args {
						if id, ok := a.(*ast.Ident); ok {
							inc.DropArgs[id.Name] = true
						}
					}
				}
			case *ast.Ident:
				if fun.Name == "inc" && len(call.Args) == 1 {
					if u, ok := call.Args[0].(*ast.UnaryExpr); ok && u.Op == token.AND {
						if field, ok := u.X.(*ast.SelectorExpr); ok {
							inc.Fields[field.Sel.Name] = true
						}
					}
				}
				if fun.Name == "drop" {
					for _, a := range call.Args {
						if id, ok := a.(*ast.Ident); ok {
							inc.DropArgs[id.Name] = true
						}
					}
				}
			}
			return true
		})
		return nil
	})
	return inc, err
}
