// Package gen is bsgen, the Better-State code generator, as a library:
// cmd/bsgen parses flags and calls Generate, then writes the files it
// returns.
//
// Generation runs in stages that do not leak into each other:
// internal/gen/load reads the schema packages with go/packages and go/types
// into the plain internal/gen/model; internal/gen/check follows every
// action through the code it calls and refuses what would make replicas
// diverge; internal/gen/emit writes the Go code with jennifer.
package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/better-state/better-state/internal/gen/check"
	"github.com/better-state/better-state/internal/gen/emit"
	"github.com/better-state/better-state/internal/gen/load"
	"github.com/better-state/better-state/internal/gen/model"
)

// Config says what to generate.
type Config struct {
	// Dir is the directory patterns are relative to ("" is the current
	// directory).
	Dir string
	// Patterns are go/packages patterns of the schema packages; none
	// means ".".
	Patterns []string
	// Server, if set, is a directory relative to each schema package's
	// directory where a server main package is written as well.
	Server string
	// Web, if set, is a directory relative to each schema package's
	// directory that gets PKG.js and PKG.d.ts, the typed JavaScript API
	// over the WebAssembly client.
	Web string
	// Wasm, if set, is a directory relative to each schema package's
	// directory that gets main.go, the package's WebAssembly client.
	Wasm string
}

// Diagnostic is a finding about the user's code with its file:line:col.
type Diagnostic = model.Diagnostic

// File is one generated file.
type File struct {
	Path    string // absolute
	Content []byte
}

// Commit writes f unless the file already holds exactly its content, so
// an unchanged file keeps its modification time. It reports whether it
// wrote.
func (f File) Commit() (bool, error) {
	old, err := os.ReadFile(f.Path)
	if err == nil && bytes.Equal(old, f.Content) {
		return false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("bsgen: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return false, fmt.Errorf("bsgen: %w", err)
	}
	if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
		return false, fmt.Errorf("bsgen: %w", err)
	}
	return true, nil
}

// Result is what Generate produced.
type Result struct {
	// Files are the generated files, sorted by path. There are none when
	// Diagnostics hold an error.
	Files []File
	// Diagnostics are errors and warnings about the schema packages,
	// sorted by position.
	Diagnostics []Diagnostic
}

// HasErrors reports whether any diagnostic is an error.
func (r *Result) HasErrors() bool { return model.HasErrors(r.Diagnostics) }

// Generate loads, checks and generates the schema packages cfg names. The
// error is for failures that are not about the user's code (a package
// that cannot be listed, say); mistakes in the code are Diagnostics.
func Generate(cfg Config) (*Result, error) {
	dir := cfg.Dir
	if dir == "" {
		dir = "."
	}
	prog, diags, err := load.Load(dir, cfg.Patterns)
	if err != nil {
		return nil, err
	}
	res := &Result{Diagnostics: diags}
	defer func() { model.SortDiagnostics(res.Diagnostics) }()
	if res.HasErrors() {
		return res, nil
	}
	if len(prog.Roots) == 0 {
		return nil, fmt.Errorf("bsgen: no //bs:state type in %s", strings.Join(patternsOrDot(cfg.Patterns), " "))
	}
	res.Diagnostics = append(res.Diagnostics, check.Determinism(prog)...)

	var files []File
	for _, root := range prog.Roots {
		p := root.Model
		out, err := emit.Package(p)
		if err != nil {
			return nil, err
		}
		res.Diagnostics = append(res.Diagnostics, clashes(p, out.Names)...)
		files = append(files, File{Path: filepath.Join(p.Dir, p.Name+"_bs.go"), Content: out.Source})
		if cfg.Server != "" {
			serverDir := filepath.Join(p.Dir, cfg.Server)
			src, err := emit.ServerMain(p, filepath.Base(serverDir))
			if err != nil {
				return nil, err
			}
			files = append(files, File{Path: filepath.Join(serverDir, "main.go"), Content: src})
		}
		if cfg.Web != "" {
			js, dts := emit.WebAPI(p)
			dir := filepath.Join(p.Dir, cfg.Web)
			files = append(files, File{Path: filepath.Join(dir, p.Name+".js"), Content: js}, File{Path: filepath.Join(dir, p.Name+".d.ts"), Content: dts})
		}
		if cfg.Wasm != "" {
			dir := filepath.Join(p.Dir, cfg.Wasm)
			files = append(files, File{Path: filepath.Join(dir, "main.go"), Content: emit.WasmMain(p, filepath.Base(dir))})
		}
	}
	if res.HasErrors() {
		return res, nil
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	res.Files = files
	return res, nil
}

func patternsOrDot(ps []string) []string {
	if len(ps) == 0 {
		return []string{"."}
	}
	return ps
}

// clashes reports generated names that the package already declares.
func clashes(p *model.Package, names []string) []Diagnostic {
	var ds []Diagnostic
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			ds = append(ds, Diagnostic{Pos: p.States[0].Pos, Message: fmt.Sprintf("bsgen would declare %s twice in package %s; rename a state or an action", n, p.Name)})
			continue
		}
		seen[n] = true
		if pos, ok := p.Declared[n]; ok {
			ds = append(ds, Diagnostic{Pos: pos, Message: fmt.Sprintf("%s is declared here, but bsgen generates a declaration of that name in %s_bs.go; rename this one", n, p.Name)})
		}
	}
	return ds
}
