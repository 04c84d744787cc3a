// Package load is bsgen's first stage: it loads schema packages with
// golang.org/x/tools/go/packages, finds the //bs:state types and their
// actions, refuses types that cannot travel as JSON, and describes what it
// found as a plain internal/gen/model.Package.
//
// It also hands the type-checked program to internal/gen/check, which needs
// go/types and syntax to follow what actions call. Only internal/gen imports
// it.
package load

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/better-state/better-state/internal/gen/model"
)

// Program is everything loaded: the schema packages and every package they
// depend on, type-checked. Function bodies are kept only for packages of the
// schema packages' own module: those are the ones check follows.
type Program struct {
	Fset *token.FileSet
	// Roots are the schema packages, in the order loaded (sorted by path).
	Roots []*Schema
	// Packages holds every loaded package by import path.
	Packages map[string]*packages.Package
}

// Schema is one loaded schema package.
type Schema struct {
	Pkg   *packages.Package
	Model *model.Package
	// Actions holds the method of every action, in the model's order
	// (states sorted by name, actions sorted by name), and of every rule
	// (ReadRule, WriteRule): the determinism check follows them all.
	Actions []ActionFunc
}

// ActionFunc ties a model action to its method.
type ActionFunc struct {
	State  *model.State
	Action *model.Action
	Func   *types.Func
}

// SameModule reports whether pkg belongs to the module of the schema
// package root (the code that check follows into).
func (p *Program) SameModule(root *Schema, pkg *types.Package) bool {
	if pkg == nil || root.Pkg.Module == nil {
		return false
	}
	lp, ok := p.Packages[pkg.Path()]
	return ok && lp.Module != nil && lp.Module.Path == root.Pkg.Module.Path
}

// Load loads the packages matching patterns, relative to dir, and returns
// the program with every schema package described, plus diagnostics about
// the user's code. The error is for failures to load at all.
func Load(dir string, patterns []string) (*Program, []model.Diagnostic, error) {
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("bsgen: %w", err)
	}
	// A quick listing first, to learn which directories hold the schema
	// packages: their previously generated files are replaced by an empty
	// file of the same package while loading, so stale generated code
	// (for an action since renamed, say) never stops a regeneration.
	list, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedFiles, Dir: absDir}, patterns...)
	if err != nil {
		return nil, nil, fmt.Errorf("bsgen: listing %s: %w", strings.Join(patterns, " "), err)
	}
	rootDirs := map[string]bool{}
	for _, p := range list {
		for _, f := range p.GoFiles {
			rootDirs[filepath.Dir(f)] = true
		}
	}
	modDir := moduleDir(absDir)
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes |
			packages.NeedTypesInfo | packages.NeedImports | packages.NeedDeps | packages.NeedModule,
		Dir: absDir,
		ParseFile: func(fset *token.FileSet, filename string, src []byte) (*ast.File, error) {
			if rootDirs[filepath.Dir(filename)] && isGenerated(src) {
				return parser.ParseFile(fset, filename, src, parser.PackageClauseOnly)
			}
			if modDir == "" || !strings.HasPrefix(filename, modDir+string(filepath.Separator)) {
				// Outside the module: only declarations matter, and
				// skipping bodies keeps the load fast.
				f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
				if f != nil {
					for _, d := range f.Decls {
						if fd, ok := d.(*ast.FuncDecl); ok {
							fd.Body = nil
						}
					}
				}
				return f, err
			}
			return parser.ParseFile(fset, filename, src, parser.ParseComments|parser.SkipObjectResolution)
		},
	}
	roots, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, nil, fmt.Errorf("bsgen: loading %s: %w", strings.Join(patterns, " "), err)
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].PkgPath < roots[j].PkgPath })
	prog := &Program{Fset: cfg.Fset, Packages: map[string]*packages.Package{}}
	packages.Visit(roots, nil, func(p *packages.Package) {
		prog.Packages[p.PkgPath] = p
		if prog.Fset == nil {
			prog.Fset = p.Fset
		}
	})
	var diags []model.Diagnostic
	var loadErrs []error
	for _, p := range roots {
		for _, e := range p.Errors {
			if d, ok := errorDiagnostic(e); ok {
				diags = append(diags, d)
			} else if e.Pos == "" || e.Pos == "-" {
				loadErrs = append(loadErrs, errors.New(e.Msg))
			} else {
				loadErrs = append(loadErrs, e)
			}
		}
	}
	if len(loadErrs) > 0 {
		return nil, nil, fmt.Errorf("bsgen: %w", errors.Join(loadErrs...))
	}
	if len(diags) > 0 {
		return prog, diags, nil
	}
	for _, p := range roots {
		s, ds := describePackage(p)
		diags = append(diags, ds...)
		if s != nil {
			prog.Roots = append(prog.Roots, s)
		}
	}
	return prog, diags, nil
}

func isGenerated(src []byte) bool {
	return strings.HasPrefix(string(src), "// "+model.Header+"\n")
}

// moduleDir returns the directory of the go.mod governing dir, or "".
func moduleDir(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// errorDiagnostic turns a package error with a position into a diagnostic.
func errorDiagnostic(e packages.Error) (model.Diagnostic, bool) {
	// Pos is "file:line:col" or "file:line" or "".
	parts := strings.Split(e.Pos, ":")
	if e.Pos == "" || len(parts) < 2 {
		return model.Diagnostic{}, false
	}
	var line, col int
	n := len(parts)
	if _, err := fmt.Sscan(parts[n-1], &col); err == nil && n >= 3 {
		if _, err := fmt.Sscan(parts[n-2], &line); err == nil {
			return model.Diagnostic{Pos: model.Pos{File: strings.Join(parts[:n-2], ":"), Line: line, Col: col}, Message: e.Msg}, true
		}
	}
	if _, err := fmt.Sscan(parts[n-1], &line); err == nil {
		return model.Diagnostic{Pos: model.Pos{File: strings.Join(parts[:n-1], ":"), Line: line, Col: 1}, Message: e.Msg}, true
	}
	return model.Diagnostic{}, false
}
