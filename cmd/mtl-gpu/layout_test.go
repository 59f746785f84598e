package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// maxFuncLines bounds the length of every function of the command: it
// parses flags, calls the library (package pipeline) and prints, so
// anything longer is a piece of pipeline in the wrong place.
const maxFuncLines = 60

// TestCommandStaysThin checks that no function of the command (tests
// aside) is longer than maxFuncLines and that the command imports neither
// package data nor package mtl: it reaches them through package pipeline.
func TestCommandStaysThin(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "github.com/mtl-gpu/mtl-gpu/data" || path == "github.com/mtl-gpu/mtl-gpu/mtl" {
				t.Errorf("%s imports %s: call package pipeline instead", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			var what string
			switch fn := n.(type) {
			case *ast.FuncDecl:
				body, what = fn.Body, fn.Name.Name
			case *ast.FuncLit:
				body, what = fn.Body, "function literal"
			default:
				return true
			}
			if body == nil {
				return true
			}
			checked++
			start, end := fset.Position(n.Pos()), fset.Position(body.End())
			if lines := end.Line - start.Line + 1; lines > maxFuncLines {
				t.Errorf("%s:%d: %s is %d lines long (at most %d)", name, start.Line, what, lines, maxFuncLines)
			}
			return true
		})
	}
	if checked < 20 {
		t.Fatalf("only %d functions found: is the test running in the command's folder?", checked)
	}
}
