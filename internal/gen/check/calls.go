package check

// Calls whose callee is not known statically: through an interface, or
// through a function value. Interface calls are resolved to the
// implementations declared in the schema's module, which are followed;
// what cannot be resolved is reported instead of passed in silence.

import (
	"go/ast"
	"go/types"
	"maps"
	"slices"

	"golang.org/x/tools/go/types/typeutil"

	"github.com/better-state/better-state/internal/gen/load"
	"github.com/better-state/better-state/internal/gen/model"
)

// dynamicCall handles a call whose callee typeutil cannot name.
func (w *walk) dynamicCall(fn *types.Func, info *types.Info, call *ast.CallExpr) {
	if typeutil.StaticCallee(info, call) != nil {
		return
	}
	fun := ast.Unparen(call.Fun)
	if tv, ok := info.Types[fun]; ok && (tv.IsType() || tv.IsBuiltin()) {
		return // a conversion or a builtin
	}
	if _, ok := fun.(*ast.FuncLit); ok {
		return // its body is inspected where it is written
	}
	if sel, ok := fun.(*ast.SelectorExpr); ok {
		if s := info.Selections[sel]; s != nil && s.Kind() == types.MethodVal && types.IsInterface(s.Recv()) {
			w.interfaceCall(fn, call, s)
			return
		}
	}
	if id, ok := fun.(*ast.Ident); ok {
		if v, ok := info.Uses[id].(*types.Var); ok && v.Parent() != nil && v.Parent() != v.Pkg().Scope() {
			// A local variable or a parameter: what it can hold is a
			// function literal, inspected where it is written, or a
			// function named where it is taken, which the walk reaches
			// (or reports) there.
			return
		}
	}
	w.report(model.Warning, call.Lparen, fn, "calls the function value %s, which bsgen cannot follow: call a named function, or make sure every function it may hold is deterministic", exprString(fun))
}

// interfaceCall follows every method of the schema's module that the
// interface call may reach, and reports a call whose implementations may
// lie outside the module.
func (w *walk) interfaceCall(fn *types.Func, call *ast.CallExpr, s *types.Selection) {
	m := s.Obj().(*types.Func)
	iface, _ := s.Recv().Underlying().(*types.Interface)
	if iface == nil {
		return
	}
	if m.Pkg() != nil && m.Pkg().Path() == model.SchemaPath {
		return // schema.Ctx: deterministic by construction
	}
	found := 0
	for _, t := range w.c.moduleTypes(w.root) {
		for _, recv := range []types.Type{t, types.NewPointer(t)} {
			if !types.Implements(recv, iface) {
				continue
			}
			if obj, _, _ := types.LookupFieldOrMethod(recv, true, m.Pkg(), m.Name()); obj != nil {
				if impl, ok := obj.(*types.Func); ok {
					w.reach(fn, impl)
					found++
				}
			}
			break
		}
	}
	if m.Pkg() == nil {
		return // the error interface's Error: its implementations here were followed
	}
	if !w.c.prog.SameModule(w.root, m.Pkg()) || found == 0 {
		w.report(model.Warning, call.Lparen, fn, "calls %s through an interface: bsgen follows the %d implementations declared in this module, not the others it may hold; make sure they are deterministic, or call a concrete type", qualified(m), found)
	}
}

// moduleTypes returns the named, non-generic, non-interface types declared
// in the packages of root's module, in a fixed order.
func (c *checker) moduleTypes(root *load.Schema) []types.Type {
	if ts, ok := c.modTypes[root]; ok {
		return ts
	}
	var ts []types.Type
	for _, path := range slices.Sorted(maps.Keys(c.prog.Packages)) {
		p := c.prog.Packages[path]
		if p.Types == nil || !c.prog.SameModule(root, p.Types) {
			continue
		}
		scope := p.Types.Scope()
		for _, name := range scope.Names() {
			tn, ok := scope.Lookup(name).(*types.TypeName)
			if !ok || tn.IsAlias() {
				continue
			}
			if named, ok := tn.Type().(*types.Named); ok && named.TypeParams().Len() == 0 && !types.IsInterface(named) {
				ts = append(ts, named)
			}
		}
	}
	c.modTypes[root] = ts
	return ts
}
