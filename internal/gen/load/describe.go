package load

// Finding the //bs:state types of a package and describing their actions.

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"sort"
	"strings"

	"github.com/better-state/better-state/internal/gen/model"
	"golang.org/x/tools/go/packages"
)

// describer builds the model of one package.
type describer struct {
	docs  map[*types.Func]*ast.CommentGroup // methods' doc comments, for their directives
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
	d := &describer{pkg: p, fset: p.Fset, named: map[string]*model.Type{}, docs: map[*types.Func]*ast.CommentGroup{}}
	mp := &model.Package{Name: p.Name, Path: p.PkgPath, Declared: map[string]model.Pos{}, Pure: map[string]string{}}
	if len(p.GoFiles) > 0 {
		mp.Dir = filepath.Dir(p.GoFiles[0])
	}
	type marked struct {
		spec *ast.TypeSpec
		dir  *ast.Comment
	}
	var found, presences []marked
	for _, f := range p.Syntax {
		d.pureDirectives(f, mp.Pure)
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					mp.Declared[decl.Name.Name] = d.pos(decl.Name.Pos())
				} else if fn, ok := p.TypesInfo.Defs[decl.Name].(*types.Func); ok && decl.Doc != nil {
					d.docs[fn] = decl.Doc
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
							if p := presenceDirective(doc); p != nil {
								d.errorf(p.Pos(), "%s is marked both //bs:state and //bs:presence; a presence type is a type of its own", spec.Name.Name)
							}
						} else if c := presenceDirective(doc); c != nil {
							presences = append(presences, marked{spec, c})
						} else if c := nearDirective(doc); c != nil {
							d.errorf(c.Pos(), "%q is not a bsgen directive: mark a state type with //bs:state, its presence type with //bs:presence STATE (lower case, no space after //)", c.Text)
						}
					}
				}
			}
		}
	}
	delete(mp.Declared, "_")
	if len(found) == 0 {
		for _, m := range presences {
			d.errorf(m.dir.Pos(), "%s is marked //bs:presence, but this package has no //bs:state type", m.spec.Name.Name)
		}
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
	for _, m := range presences {
		d.describePresence(mp, m.spec, m.dir)
	}
	sort.SliceStable(s.Actions, func(i, j int) bool {
		a, b := s.Actions[i], s.Actions[j]
		if a.State.Name != b.State.Name {
			return a.State.Name < b.State.Name
		}
		return a.Action.Name < b.Action.Name
	})
	return s, d.diags
}

// pureDirectives reads the //bs:pure lines of f: "//bs:pure IMPORTPATH
// reason", which tells the determinism check that the functions of that
// package (of another module, whose code it does not follow) depend only
// on their arguments.
func (d *describer) pureDirectives(f *ast.File, pure map[string]string) {
	for _, g := range f.Comments {
		for _, c := range g.List {
			rest, ok := strings.CutPrefix(c.Text, "//bs:pure")
			if !ok {
				continue
			}
			path, reason, _ := strings.Cut(strings.TrimSpace(rest), " ")
			if path == "" || strings.TrimSpace(reason) == "" {
				d.errorf(c.Pos(), "//bs:pure needs an import path and the reason it is deterministic: //bs:pure github.com/google/uuid NewSHA1 only hashes its input")
				continue
			}
			pure[path] = strings.TrimSpace(reason)
		}
	}
}

// nearDirective returns a line of doc that looks like a misspelt
// //bs:state ("// bs:state", "//bs:State", "//bs:stat"), if any.
func nearDirective(doc *ast.CommentGroup) *ast.Comment {
	if doc == nil {
		return nil
	}
	for _, c := range doc.List {
		t := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(c.Text, "//")))
		if strings.HasPrefix(c.Text, "//bs:pure") || strings.HasPrefix(c.Text, "//bs:presence") {
			continue
		}
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
		case ok && k == "maxstate":
			n, err := parseBytes(v)
			if err != nil {
				d.errorf(dir.Pos(), "bs:state: maxstate=%s: %v", v, err)
				return nil, nil
			}
			st.MaxStateBytes = n
		default:
			d.errorf(dir.Pos(), "bs:state: unknown option %q (the options are name=<wire name> and maxstate=<size>, as in maxstate=1MiB)", opt)
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
		if rule, isRule := d.describeRule(st, m); isRule {
			if rule != nil {
				actions = append(actions, *rule) // checked for determinism, not dispatched
			}
			continue
		}
		if a := d.describeAction(st, named, m); a != nil {
			st.Actions = append(st.Actions, a)
			actions = append(actions, ActionFunc{State: st, Action: a, Func: m})
		}
	}
	sort.Slice(st.Actions, func(i, j int) bool { return st.Actions[i].Name < st.Actions[j].Name })
	d.promotedRules(st, named, spec)
	return st, actions
}

func isSchemaCtx(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == model.SchemaPath && n.Obj().Name() == "Ctx"
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
	if !d.actionDirectives(st, m, a) {
		return nil
	}
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
		d.machineInt(v.Type(), v.Pos(), what)
		field := model.ExportName(v.Name())
		if field == "ActionName" || field == "UnmarshalArgs" {
			d.errorf(v.Pos(), "parameter %s of action %s.%s becomes the envelope field %s, which is the name of a generated method; rename it", v.Name(), st.Name, m.Name(), field)
			ok = false
			continue
		}
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
