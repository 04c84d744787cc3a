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
	"reflect"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/better-state/better-state/internal/gen/model"
)

// SchemaPath is the import path of the package that declares schema.Ctx.
const SchemaPath = "github.com/better-state/better-state/schema"

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
	// (states sorted by name, actions sorted by name).
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

// describer builds the model of one package.
type describer struct {
	pkg   *packages.Package
	fset  *token.FileSet
	named map[string]*model.Type // named types by their full type string
	diags []model.Diagnostic
}

func (d *describer) pos(p token.Pos) model.Pos {
	if !p.IsValid() {
		return model.Pos{}
	}
	position := d.fset.Position(p)
	return model.Pos{File: position.Filename, Line: position.Line, Col: position.Column}
}

func (d *describer) errorf(p token.Pos, format string, args ...any) {
	d.diags = append(d.diags, model.Diagnostic{Pos: d.pos(p), Message: fmt.Sprintf(format, args...)})
}

func (d *describer) warnf(p token.Pos, format string, args ...any) {
	d.diags = append(d.diags, model.Diagnostic{Pos: d.pos(p), Severity: model.Warning, Message: fmt.Sprintf(format, args...)})
}

// qualifier spells this package's types unqualified and others by package
// name, as the user's source does.
func (d *describer) qualifier(p *types.Package) string {
	if p == d.pkg.Types {
		return ""
	}
	return p.Name()
}

// describePackage finds the states of p. It returns nil when p has none.
func describePackage(p *packages.Package) (*Schema, []model.Diagnostic) {
	d := &describer{pkg: p, fset: p.Fset, named: map[string]*model.Type{}}
	mp := &model.Package{Name: p.Name, Path: p.PkgPath, Declared: map[string]model.Pos{}}
	if len(p.GoFiles) > 0 {
		mp.Dir = filepath.Dir(p.GoFiles[0])
	}
	type marked struct {
		spec *ast.TypeSpec
		dir  *ast.Comment
	}
	var found []marked
	for _, f := range p.Syntax {
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					mp.Declared[decl.Name.Name] = d.pos(decl.Name.Pos())
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							mp.Declared[n.Name] = d.pos(n.Pos())
						}
					case *ast.TypeSpec:
						mp.Declared[spec.Name.Name] = d.pos(spec.Name.Pos())
						doc := spec.Doc
						if doc == nil && len(decl.Specs) == 1 {
							doc = decl.Doc
						}
						if c := stateDirective(doc); c != nil {
							found = append(found, marked{spec, c})
						} else if c := nearDirective(doc); c != nil {
							d.errorf(c.Pos(), "%q is not a bsgen directive: mark a state type with //bs:state (lower case, no space after //)", c.Text)
						}
					}
				}
			}
		}
	}
	delete(mp.Declared, "_")
	if len(found) == 0 {
		return nil, d.diags
	}
	s := &Schema{Pkg: p, Model: mp}
	wire := map[string]string{}
	for _, m := range found {
		st, actions := d.describeState(m.spec, m.dir)
		if st == nil {
			continue
		}
		if prev, dup := wire[st.WireName]; dup {
			d.errorf(m.spec.Name.Pos(), "state %s has the wire name %q, already used by state %s; give one a name=<wire name>", st.Name, st.WireName, prev)
			continue
		}
		wire[st.WireName] = st.Name
		mp.States = append(mp.States, st)
		s.Actions = append(s.Actions, actions...)
	}
	sort.Slice(mp.States, func(i, j int) bool { return mp.States[i].Name < mp.States[j].Name })
	sort.SliceStable(s.Actions, func(i, j int) bool {
		a, b := s.Actions[i], s.Actions[j]
		if a.State.Name != b.State.Name {
			return a.State.Name < b.State.Name
		}
		return a.Action.Name < b.Action.Name
	})
	return s, d.diags
}

// nearDirective returns a line of doc that looks like a misspelt
// //bs:state ("// bs:state", "//bs:State", "//bs:stat"), if any.
func nearDirective(doc *ast.CommentGroup) *ast.Comment {
	if doc == nil {
		return nil
	}
	for _, c := range doc.List {
		t := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(c.Text, "//")))
		if strings.HasPrefix(t, "bs:") || strings.HasPrefix(t, "bs :") || strings.HasPrefix(t, "bsstate") {
			return c
		}
	}
	return nil
}

// stateDirective returns the //bs:state line of doc, if any.
func stateDirective(doc *ast.CommentGroup) *ast.Comment {
	if doc == nil {
		return nil
	}
	for _, c := range doc.List {
		if c.Text == "//bs:state" || strings.HasPrefix(c.Text, "//bs:state ") {
			return c
		}
	}
	return nil
}

func (d *describer) describeState(spec *ast.TypeSpec, dir *ast.Comment) (*model.State, []ActionFunc) {
	name := spec.Name.Name
	st := &model.State{Name: name, WireName: d.pkg.Name + "." + name, Pos: d.pos(spec.Name.Pos())}
	for _, opt := range strings.Fields(strings.TrimPrefix(dir.Text, "//bs:state")) {
		k, v, ok := strings.Cut(opt, "=")
		switch {
		case ok && k == "name" && v != "":
			st.WireName = v
		default:
			d.errorf(dir.Pos(), "bs:state: unknown option %q (the only option is name=<wire name>)", opt)
			return nil, nil
		}
	}
	tn, _ := d.pkg.TypesInfo.Defs[spec.Name].(*types.TypeName)
	if tn == nil {
		return nil, nil
	}
	named, ok := types.Unalias(tn.Type()).(*types.Named)
	if !ok || tn.IsAlias() {
		d.errorf(spec.Name.Pos(), "bs:state %s must be a defined struct type, not an alias", name)
		return nil, nil
	}
	if named.TypeParams().Len() > 0 {
		d.errorf(spec.Name.Pos(), "bs:state %s must not be generic: the runtime needs one concrete type per state", name)
		return nil, nil
	}
	if _, ok := named.Underlying().(*types.Struct); !ok {
		d.errorf(spec.Name.Pos(), "bs:state %s must be a struct type, not %s", name, named.Underlying())
		return nil, nil
	}
	n := len(d.diags)
	d.checkState(named)
	if model.HasErrors(d.diags[n:]) {
		return nil, nil
	}
	st.Type = d.convert(named)

	var actions []ActionFunc
	for i := 0; i < named.NumMethods(); i++ {
		m := named.Method(i)
		if a := d.describeAction(st, named, m); a != nil {
			st.Actions = append(st.Actions, a)
			actions = append(actions, ActionFunc{State: st, Action: a, Func: m})
		}
	}
	sort.Slice(st.Actions, func(i, j int) bool { return st.Actions[i].Name < st.Actions[j].Name })
	return st, actions
}

func isSchemaCtx(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == SchemaPath && n.Obj().Name() == "Ctx"
}

var errorType = types.Universe.Lookup("error").Type()

// describeAction returns the action m is, or nil if m is a helper.
func (d *describer) describeAction(st *model.State, named *types.Named, m *types.Func) *model.Action {
	sig := m.Type().(*types.Signature)
	if !m.Exported() {
		return nil
	}
	if sig.Params().Len() == 0 || !isSchemaCtx(sig.Params().At(0).Type()) {
		for i := 1; i < sig.Params().Len(); i++ {
			if isSchemaCtx(sig.Params().At(i).Type()) {
				d.errorf(m.Pos(), "%s.%s takes schema.Ctx as parameter %d: an action takes it first, func (*%s) %s(ctx schema.Ctx, ...) error", st.Name, m.Name(), i+1, st.Name, m.Name())
				return nil
			}
		}
		if sig.Results().Len() == 1 && types.Identical(sig.Results().At(0).Type(), errorType) {
			d.warnf(m.Pos(), "%s.%s returns error like an action but does not take schema.Ctx first, so it is not an action; make it func (*%s) %s(ctx schema.Ctx, ...) error, or unexport it if it is a helper", st.Name, m.Name(), st.Name, m.Name())
		}
		return nil
	}
	if sig.Results().Len() != 1 || !types.Identical(sig.Results().At(0).Type(), errorType) {
		d.warnf(m.Pos(), "%s.%s takes schema.Ctx but does not return just error, so it is not an action; an action is func (*%s) %s(ctx schema.Ctx, ...) error", st.Name, m.Name(), st.Name, m.Name())
		return nil
	}
	if _, ptr := sig.Recv().Type().(*types.Pointer); !ptr {
		d.errorf(m.Pos(), "action %s.%s has a value receiver, so it cannot change the state; declare it on *%s", st.Name, m.Name(), st.Name)
		return nil
	}
	a := &model.Action{Name: m.Name(), Variadic: sig.Variadic(), Pos: d.pos(m.Pos())}
	fields := map[string]string{}
	ok := true
	for i := 1; i < sig.Params().Len(); i++ {
		v := sig.Params().At(i)
		if v.Name() == "" || v.Name() == "_" {
			d.errorf(v.Pos(), "parameter %d of action %s.%s has no name; action parameters need names, they are the JSON field names of the arguments", i+1, st.Name, m.Name())
			ok = false
			continue
		}
		what := fmt.Sprintf("parameter %s of action %s.%s", v.Name(), st.Name, m.Name())
		if !d.checkType(v.Type(), v.Pos(), what, true) {
			ok = false
			continue
		}
		field := model.ExportName(v.Name())
		if prev, dup := fields[field]; dup {
			d.errorf(v.Pos(), "parameters %s and %s of action %s.%s both become the envelope field %s; rename one", prev, v.Name(), st.Name, m.Name(), field)
			ok = false
			continue
		}
		fields[field] = v.Name()
		a.Params = append(a.Params, &model.Param{Name: v.Name(), Field: field, Type: d.convert(v.Type()), Pos: d.pos(v.Pos())})
	}
	if !ok {
		return nil
	}
	return a
}

// checkState refuses state fields that cannot be stored as JSON or cloned,
// and warns about fields that Clone can only copy shallowly.
func (d *describer) checkState(named *types.Named) {
	s := named.Underlying().(*types.Struct)
	for i := 0; i < s.NumFields(); i++ {
		f := s.Field(i)
		what := fmt.Sprintf("field %s.%s of state %s", named.Obj().Name(), f.Name(), named.Obj().Name())
		if !f.Exported() && !f.Embedded() {
			d.warnf(f.Pos(), "%s is unexported, so it is never synced or stored (encoding/json skips it) and replicas may disagree on it; export it, or keep it out of the state", what)
			continue
		}
		if d.checkType(f.Type(), f.Pos(), what, false) {
			if opaque := d.sharedOpaque(f.Type(), map[types.Type]bool{}); opaque != nil {
				d.warnf(f.Pos(), "%s reaches %s, a struct of another package holding pointers, slices or maps: Clone copies it by value, so copies share that memory; declare the type in the schema package",
					what, types.TypeString(opaque, d.qualifier))
			}
		}
	}
}

// sharedOpaque returns a struct type of another package, reachable from t,
// that Clone copies by value although it holds references. time.Time is
// fine: its only reference is its immutable *time.Location.
func (d *describer) sharedOpaque(t types.Type, seen map[types.Type]bool) types.Type {
	t = types.Unalias(t)
	if seen[t] {
		return nil
	}
	seen[t] = true
	switch u := t.(type) {
	case *types.Named:
		if u.Obj().Pkg() != d.pkg.Types {
			if st, ok := u.Underlying().(*types.Struct); ok {
				if u.Obj().Pkg() != nil && u.Obj().Pkg().Path() == "time" {
					return nil
				}
				if holdsReferences(st, map[types.Type]bool{}) {
					return t
				}
				return nil
			}
			switch u.Underlying().(type) {
			case *types.Pointer, *types.Slice, *types.Map:
				if !d.spellable(u.Underlying(), map[types.Type]bool{}) {
					return t // made of types bsgen cannot name: copied by value
				}
			}
		}
		return d.sharedOpaque(u.Underlying(), seen)
	case *types.Pointer:
		return d.sharedOpaque(u.Elem(), seen)
	case *types.Slice:
		return d.sharedOpaque(u.Elem(), seen)
	case *types.Array:
		return d.sharedOpaque(u.Elem(), seen)
	case *types.Map:
		return d.sharedOpaque(u.Elem(), seen)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			if o := d.sharedOpaque(u.Field(i).Type(), seen); o != nil {
				return o
			}
		}
	}
	return nil
}

// holdsReferences reports whether a value of t contains a pointer, slice,
// map, channel, function or interface.
func holdsReferences(t types.Type, seen map[types.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return u.Kind() == types.UnsafePointer
	case *types.Array:
		return holdsReferences(u.Elem(), seen)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			if holdsReferences(u.Field(i).Type(), seen) {
				return true
			}
		}
		return false
	}
	return true
}

// checkType reports the parts of t that cannot travel as JSON (or, for
// state fields, cannot be cloned without reflection). It reports at most
// one finding, at pos, and returns whether t is fine.
func (d *describer) checkType(t types.Type, pos token.Pos, what string, param bool) bool {
	bad, reason := d.badPart(t, param, map[*types.Named]bool{})
	if bad == nil {
		return true
	}
	tq := d.qualifier
	if types.Identical(bad, t) {
		d.errorf(pos, "%s has type %s: %s", what, types.TypeString(t, tq), reason)
	} else {
		d.errorf(pos, "%s has type %s, which contains %s: %s", what, types.TypeString(t, tq), types.TypeString(bad, tq), reason)
	}
	return false
}

const (
	reasonChan      = "a channel cannot be sent as JSON or cloned; send or store the values themselves (a slice)"
	reasonFunc      = "a function cannot be sent as JSON or cloned; send data that selects the behaviour instead"
	reasonUnsafe    = "unsafe.Pointer cannot be sent as JSON or cloned; use a concrete type"
	reasonInterface = "an interface does not decode from JSON into a definite type and cannot be cloned without reflection; use a concrete type"
	reasonComplex   = "complex numbers are not JSON-serializable; use two float64 fields"
	reasonMapKey    = "JSON object keys are strings; use a map whose key is string-kinded (string or a type defined as string)"
)

// badPart returns the first part of t that is refused, and why.
func (d *describer) badPart(t types.Type, param bool, seen map[*types.Named]bool) (types.Type, string) {
	t = types.Unalias(t)
	switch u := t.(type) {
	case *types.Basic:
		switch {
		case u.Kind() == types.UnsafePointer:
			return t, reasonUnsafe
		case u.Info()&types.IsComplex != 0:
			return t, reasonComplex
		}
	case *types.Chan:
		return t, reasonChan
	case *types.Signature:
		return t, reasonFunc
	case *types.Interface, *types.TypeParam:
		return t, reasonInterface
	case *types.Pointer:
		return d.badPart(u.Elem(), param, seen)
	case *types.Slice:
		return d.badPart(u.Elem(), param, seen)
	case *types.Array:
		return d.badPart(u.Elem(), param, seen)
	case *types.Map:
		k, ok := u.Key().Underlying().(*types.Basic)
		if !ok || k.Info()&types.IsString == 0 {
			return t, reasonMapKey
		}
		return d.badPart(u.Elem(), param, seen)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			f := u.Field(i)
			if param && (!f.Exported() || jsonName(u.Tag(i), f.Name()) == "-") {
				continue // encoding/json never touches it
			}
			if bad, why := d.badPart(f.Type(), param, seen); bad != nil {
				return bad, why
			}
		}
	case *types.Named:
		if seen[u] {
			return nil, ""
		}
		seen[u] = true
		if u.Obj().Pkg() != d.pkg.Types {
			// Another package's type: trusted to marshal itself unless
			// it is obviously not data.
			switch u.Underlying().(type) {
			case *types.Interface:
				return t, reasonInterface
			case *types.Chan:
				return t, reasonChan
			case *types.Signature:
				return t, reasonFunc
			case *types.Struct:
				return nil, ""
			}
		}
		return d.badPart(u.Underlying(), param, seen)
	}
	return nil, ""
}

// jsonName returns the JSON name of a field from its tag.
func jsonName(tag, name string) string {
	v, ok := reflect.StructTag(tag).Lookup("json")
	if !ok {
		return name
	}
	n, _, _ := strings.Cut(v, ",")
	if n == "" {
		return name
	}
	return n
}

// convert describes t in the model. t has passed checkType.
func (d *describer) convert(t types.Type) *model.Type {
	t = types.Unalias(t)
	switch u := t.(type) {
	case *types.Basic:
		return &model.Type{Kind: model.Basic, Name: u.Name()}
	case *types.Pointer:
		return &model.Type{Kind: model.Pointer, Elem: d.convert(u.Elem())}
	case *types.Slice:
		return &model.Type{Kind: model.Slice, Elem: d.convert(u.Elem())}
	case *types.Array:
		return &model.Type{Kind: model.Array, Len: u.Len(), Elem: d.convert(u.Elem())}
	case *types.Map:
		return &model.Type{Kind: model.Map, Key: d.convert(u.Key()), Elem: d.convert(u.Elem())}
	case *types.Struct:
		mt := &model.Type{Kind: model.Struct}
		for i := 0; i < u.NumFields(); i++ {
			f := u.Field(i)
			mt.Fields = append(mt.Fields, &model.Field{
				Name:     f.Name(),
				JSON:     jsonName(u.Tag(i), f.Name()),
				Tag:      u.Tag(i),
				Embedded: f.Embedded(),
				Exported: f.Exported(),
				Type:     d.convert(f.Type()),
			})
		}
		return mt
	case *types.Named:
		key := types.TypeString(u, nil)
		if mt, ok := d.named[key]; ok {
			return mt
		}
		obj := u.Obj()
		mt := &model.Type{Kind: model.Named, Name: obj.Name()}
		if obj.Pkg() != nil {
			mt.PkgPath, mt.PkgName = obj.Pkg().Path(), obj.Pkg().Name()
			mt.Local = obj.Pkg() == d.pkg.Types
		}
		d.named[key] = mt
		for i := 0; i < u.TypeArgs().Len(); i++ {
			mt.Args = append(mt.Args, d.convert(u.TypeArgs().At(i)))
		}
		if mt.Local || d.spellable(u.Underlying(), map[types.Type]bool{}) {
			mt.Underlying = d.convert(u.Underlying())
		} else if d.sameModule(obj.Pkg()) {
			mt.Wire = d.convert(u.Underlying())
		}
		return mt
	}
	// A channel, function or interface where encoding/json ignores it.
	return &model.Type{Kind: model.Other, Name: types.TypeString(t, types.RelativeTo(d.pkg.Types))}
}

// sameModule reports whether p belongs to the schema package's module: its
// types are spelled out in the shape (model.State.Shape), like local ones.
func (d *describer) sameModule(p *types.Package) bool {
	m := d.pkg.Module
	if p == nil || m == nil {
		return false
	}
	return p.Path() == m.Path || strings.HasPrefix(p.Path(), m.Path+"/")
}

// spellable reports whether the underlying type of another package's named
// type can be cloned from this package: it is a pointer, slice, map or
// array whose parts are all types this package can name. Structs of other
// packages are opaque (copied by value), like time.Time.
func (d *describer) spellable(t types.Type, seen map[types.Type]bool) bool {
	switch u := types.Unalias(t).(type) {
	case *types.Pointer:
		return d.nameable(u.Elem(), seen)
	case *types.Slice:
		return d.nameable(u.Elem(), seen)
	case *types.Array:
		return d.nameable(u.Elem(), seen)
	case *types.Map:
		return d.nameable(u.Key(), seen) && d.nameable(u.Elem(), seen)
	}
	return false
}

func (d *describer) nameable(t types.Type, seen map[types.Type]bool) bool {
	if seen[t] {
		return true
	}
	seen[t] = true
	switch u := types.Unalias(t).(type) {
	case *types.Basic:
		return true
	case *types.Named:
		if !u.Obj().Exported() && u.Obj().Pkg() != d.pkg.Types {
			return false
		}
		for i := 0; i < u.TypeArgs().Len(); i++ {
			if !d.nameable(u.TypeArgs().At(i), seen) {
				return false
			}
		}
		return true
	case *types.Pointer:
		return d.nameable(u.Elem(), seen)
	case *types.Slice:
		return d.nameable(u.Elem(), seen)
	case *types.Array:
		return d.nameable(u.Elem(), seen)
	case *types.Map:
		return d.nameable(u.Key(), seen) && d.nameable(u.Elem(), seen)
	}
	return false
}
