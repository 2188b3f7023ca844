package stack

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/xdptcp/xdptcp/internal/countscan"
)

// Every engine counter the exporter walks (Stats.Each) and every drop
// reason is incremented by some code path, found by a go/ast scan of the
// module's non-test source.
func TestEveryEngineCounterIsCounted(t *testing.T) {
	root, err := countscan.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	inc, err := countscan.Scan(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s Stats
	s.Each(func(name string, _ uint64) {
		if !inc.Fields[name] {
			t.Errorf("engine counter %s is exported but no code path increments it", name)
		}
	})
	idents := dropIdents(t)
	for r := DropReason(0); r < NumDropReasons; r++ {
		if !inc.DropArgs[idents[r]] {
			t.Errorf("drop reason %s (%s) is exported but no code path drops for it", r, idents[r])
		}
	}
}

// dropIdents returns the DropReason constants' names in order, read from
// stats.go (so a new reason is checked without editing this test).
func dropIdents(t *testing.T) []string {
	f, err := parser.ParseFile(token.NewFileSet(), "stats.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			for _, n := range sp.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Drop") {
					names = append(names, n.Name)
				}
			}
		}
	}
	if len(names) != int(NumDropReasons) {
		t.Fatalf("stats.go lists %d drop reasons, NumDropReasons is %d", len(names), NumDropReasons)
	}
	return names
}
