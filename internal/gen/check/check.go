// Package check is bsgen's determinism analysis. Every replica applies the
// same mutations and must reach the same state, so an action may depend only
// on its state, its schema.Ctx and its arguments. Check follows each action,
// through the functions and methods of the schema's own module that it
// calls, over the type-checked syntax that internal/gen/load produced
// (go/types objects resolved by golang.org/x/tools, never names matched as
// strings), and reports what breaks that rule:
//
//   - calls to (or uses of) time.Now, time.Since, time.Until, the top-level
//     functions of math/rand and math/rand/v2, anything in crypto/rand, os
//     and the network packages;
//   - go statements, channel sends and receives, select, and range over a
//     channel;
//   - writes to package-level variables;
//
// and warns about range over a map, whose order differs between runs.
//
// Calls are followed when their callee is known statically: functions,
// methods of concrete types, function literals. Calls through interfaces
// and function values are not followed (ctx.NewID() is such a call, and
// fine), nor is code of other modules, which is judged by what it is (the
// list above) rather than by what it does inside. Only internal/gen
// imports it.
package check

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/better-state/better-state/internal/gen/load"
	"github.com/better-state/better-state/internal/gen/model"
)

// Determinism checks every action of the program's schema packages.
func Determinism(prog *load.Program) []model.Diagnostic {
	c := &checker{prog: prog, decls: map[*types.Func]funcSource{}, reported: map[string]bool{}, modTypes: map[*load.Schema][]types.Type{}}
	for _, p := range prog.Packages {
		c.index(p)
	}
	for _, root := range prog.Roots {
		for _, a := range root.Actions {
			c.action(root, a)
		}
	}
	return c.diags
}

// funcSource is a function's declaration and the package it was checked in.
type funcSource struct {
	decl *ast.FuncDecl
	pkg  *packages.Package
}

type checker struct {
	prog     *load.Program
	decls    map[*types.Func]funcSource
	diags    []model.Diagnostic
	reported map[string]bool
	modTypes map[*load.Schema][]types.Type // moduleTypes' answers
}

func (c *checker) index(p *packages.Package) {
	if p.TypesInfo == nil {
		return
	}
	for _, f := range p.Syntax {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if fn, ok := p.TypesInfo.Defs[fd.Name].(*types.Func); ok {
				c.decls[fn] = funcSource{fd, p}
			}
		}
	}
}

// walk is the state of following one action.
type walk struct {
	c      *checker
	root   *load.Schema
	action string // "List.Add"
	// via records, for each function reached, the function it was reached
	// from, to explain transitive findings.
	via   map[*types.Func]*types.Func
	queue []*types.Func
}

func (c *checker) action(root *load.Schema, a load.ActionFunc) {
	w := &walk{c: c, root: root, action: a.State.Name + "." + a.Action.Name, via: map[*types.Func]*types.Func{a.Func: nil}}
	w.queue = append(w.queue, a.Func)
	for len(w.queue) > 0 {
		fn := w.queue[0]
		w.queue = w.queue[1:]
		src, ok := c.decls[fn]
		if !ok {
			continue
		}
		w.body(fn, src)
	}
}

// reach records that from calls or uses fn and queues fn if its body is in
// the schema's module.
func (w *walk) reach(from, fn *types.Func) {
	fn = fn.Origin()
	if _, seen := w.via[fn]; seen {
		return
	}
	if !w.c.prog.SameModule(w.root, fn.Pkg()) {
		return
	}
	w.via[fn] = from
	w.queue = append(w.queue, fn)
}

// chain describes how the action reached fn: "" for the action itself,
// else " (through a -> b)".
func (w *walk) chain(fn *types.Func) string {
	var names []string
	for f := fn; f != nil; f = w.via[f] {
		if w.via[f] == nil {
			break // the action itself
		}
		names = append([]string{w.funcName(f)}, names...)
	}
	if len(names) == 0 {
		return ""
	}
	return " (through " + strings.Join(names, " -> ") + ")"
}

// funcName names f briefly: now, (*S).stamp, helper.Pick.
func (w *walk) funcName(f *types.Func) string {
	if recv := f.Signature().Recv(); recv != nil {
		return "(" + types.TypeString(recv.Type(), w.qualifier) + ")." + f.Name()
	}
	if f.Pkg() != w.root.Pkg.Types {
		return f.Pkg().Name() + "." + f.Name()
	}
	return f.Name()
}

// qualifier spells the schema package's own types unqualified and the
// others by package name.
func (w *walk) qualifier(p *types.Package) string {
	if p == w.root.Pkg.Types {
		return ""
	}
	return p.Name()
}

func (w *walk) report(sev model.Severity, pos token.Pos, fn *types.Func, format string, args ...any) {
	p := w.c.prog.Fset.Position(pos)
	msg := w.action + " " + fmt.Sprintf(format, args...)
	// One report per place and kind, naming the first action that reaches
	// it, whatever the number of actions that share the helper.
	key := fmt.Sprintf("%s:%d:%d:%s", p.Filename, p.Line, p.Column, format)
	if w.c.reported[key] {
		return
	}
	w.c.reported[key] = true
	if ch := w.chain(fn); ch != "" {
		// Put the chain right after the construct, before the advice.
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[:i] + ch + msg[i:]
		} else {
			msg += ch
		}
	}
	w.c.diags = append(w.c.diags, model.Diagnostic{
		Pos:      model.Pos{File: p.Filename, Line: p.Line, Col: p.Column},
		Severity: sev,
		Message:  msg,
	})
}

func (w *walk) errorf(pos token.Pos, fn *types.Func, format string, args ...any) {
	w.report(model.Error, pos, fn, format, args...)
}

// Advice shared by several findings.
const (
	adviceConcurrency = "an action runs to completion on one goroutine, the same way on every replica; keep the data in the state or pass it as an argument"
	adviceGlobal      = "package state is not replicated, so replicas diverge; keep the data in the state"
	adviceMapRange    = "map order differs between replicas; if the order reaches the state, range over slices.Sorted(maps.Keys(m)) instead"
)

// body inspects the body of fn.
func (w *walk) body(fn *types.Func, src funcSource) {
	info := src.pkg.TypesInfo
	called := map[ast.Expr]bool{} // the Fun of every call
	parents := parentsOf(src.decl.Body)
	zoned := map[*ast.CallExpr]bool{} // calls whose time result gets .UTC() or .In
	var visit func(ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			w.errorf(n.Go, fn, "starts a goroutine: %s", adviceConcurrency)
		case *ast.SendStmt:
			w.errorf(n.Arrow, fn, "sends on a channel: %s", adviceConcurrency)
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				w.errorf(n.OpPos, fn, "receives from a channel: %s", adviceConcurrency)
			}
		case *ast.SelectStmt:
			w.errorf(n.Select, fn, "uses select, which picks a ready case at random: %s", adviceConcurrency)
			// Report the select once, not each of its cases' channel
			// operations; what the cases compute and their bodies are
			// still inspected.
			for _, cl := range n.Body.List {
				cc := cl.(*ast.CommClause)
				switch comm := cc.Comm.(type) {
				case *ast.SendStmt:
					ast.Inspect(comm.Chan, visit)
					ast.Inspect(comm.Value, visit)
				case *ast.ExprStmt:
					if u, ok := comm.X.(*ast.UnaryExpr); ok && u.Op == token.ARROW {
						ast.Inspect(u.X, visit)
					}
				case *ast.AssignStmt:
					if comm.Tok != token.DEFINE {
						for _, lhs := range comm.Lhs {
							w.write(fn, info, lhs)
						}
					}
					if u, ok := comm.Rhs[0].(*ast.UnaryExpr); ok && u.Op == token.ARROW {
						ast.Inspect(u.X, visit)
					}
				}
				for _, s := range cc.Body {
					ast.Inspect(s, visit)
				}
			}
			return false
		case *ast.RangeStmt:
			w.rangeStmt(fn, info, n)
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE {
				for _, lhs := range n.Lhs {
					w.write(fn, info, lhs)
				}
			}
			if n.Tok == token.MUL_ASSIGN {
				w.mulAssign(fn, info, n)
			}
		case *ast.IncDecStmt:
			w.write(fn, info, n.X)
		case *ast.BinaryExpr:
			w.product(fn, info, n, parents)
		case *ast.CallExpr:
			called[ast.Unparen(n.Fun)] = true
			w.localTime(fn, info, n, zoned)
			w.dynamicCall(fn, info, n)
			if id, ok := ast.Unparen(n.Fun).(*ast.Ident); ok && len(n.Args) > 0 {
				if b, ok := info.Uses[id].(*types.Builtin); ok {
					switch b.Name() {
					case "delete", "clear", "copy":
						w.write(fn, info, n.Args[0])
					}
				}
			}
		case *ast.SelectorExpr:
			if n.Sel.Name == "UTC" || n.Sel.Name == "In" {
				if c, ok := ast.Unparen(n.X).(*ast.CallExpr); ok {
					zoned[c] = true // time.Unix(...).UTC(): no local zone
				}
			}
			// pkg.F, x.Method, x.field: the selected name is reported at
			// the start of the whole expression.
			w.use(fn, info, n.Sel, n.Pos(), called[n])
			ast.Inspect(n.X, visit)
			return false
		case *ast.Ident:
			w.use(fn, info, n, n.Pos(), called[n])
		}
		return true
	}
	ast.Inspect(src.decl.Body, visit)
}

// use handles an identifier that may denote a function or a variable.
func (w *walk) use(fn *types.Func, info *types.Info, id *ast.Ident, pos token.Pos, call bool) {
	verb := "calls"
	if !call {
		verb = "uses"
	}
	switch obj := info.Uses[id].(type) {
	case *types.Func:
		if advice, ok := forbidden(obj); ok {
			w.errorf(pos, fn, "%s %s: %s", verb, qualified(obj), advice)
			return
		}
		if mapOrdered(obj) {
			w.report(model.Warning, pos, fn, "%s %s, which returns a map's keys in map order: %s", verb, qualified(obj), adviceMapRange)
			return
		}
		if w.otherModule(obj.Pkg()) && !w.pure(obj.Pkg()) {
			w.errorf(pos, fn, "%s %s, in another module, whose code bsgen does not follow: if it depends only on its arguments, declare it in the schema package with //bs:pure %s <why>; otherwise compute it outside the action and pass the result as an argument", verb, qualified(obj), obj.Pkg().Path())
			return
		}
		w.reach(fn, obj)
	case *types.Var:
		if obj.Pkg() != nil && !obj.IsField() && obj.Parent() == obj.Pkg().Scope() {
			if advice, ok := forbiddenVar(obj); ok {
				w.errorf(pos, fn, "uses %s: %s", qualified(obj), advice)
			}
		}
	case *types.Const:
		if advice, ok := forbiddenConst(obj); ok {
			w.errorf(pos, fn, "uses %s: %s", qualified(obj), advice)
		}
	case *types.Builtin, *types.TypeName:
		if obj.Pkg() != nil && obj.Pkg().Path() == "unsafe" {
			if advice, ok := forbiddenPackage("unsafe"); ok {
				w.errorf(pos, fn, "uses %s: %s", qualified(obj), advice)
			}
		}
	}
}

// write reports lhs if it stores into a package-level variable.
func (w *walk) write(fn *types.Func, info *types.Info, lhs ast.Expr) {
	id := rootIdent(info, lhs)
	if id == nil {
		return
	}
	v, ok := info.Uses[id].(*types.Var)
	if !ok || v.Pkg() == nil || v.IsField() || v.Parent() != v.Pkg().Scope() {
		return
	}
	name := v.Name()
	if v.Pkg() != w.root.Pkg.Types {
		name = v.Pkg().Name() + "." + name
	}
	w.errorf(lhs.Pos(), fn, "writes the package-level variable %s: %s", name, adviceGlobal)
}

// rootIdent returns the variable that an assignment to e stores into:
// x for x, x.f, x[i], *x, pkg.x and combinations of them.
func rootIdent(info *types.Info, e ast.Expr) *ast.Ident {
	for {
		switch x := e.(type) {
		case *ast.Ident:
			return x
		case *ast.ParenExpr:
			e = x.X
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok {
				if _, isPkg := info.Uses[id].(*types.PkgName); isPkg {
					return x.Sel
				}
			}
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		default:
			return nil
		}
	}
}

func (w *walk) rangeStmt(fn *types.Func, info *types.Info, n *ast.RangeStmt) {
	t := info.TypeOf(n.X)
	if t == nil {
		return
	}
	switch t.Underlying().(type) {
	case *types.Map:
		w.report(model.Warning, n.For, fn, "ranges over a map: %s", adviceMapRange)
	case *types.Chan:
		w.errorf(n.For, fn, "ranges over a channel, receiving from it: %s", adviceConcurrency)
	case *types.Signature:
		// Iterators over a map's keys or values have the map's order.
		if call, ok := ast.Unparen(n.X).(*ast.CallExpr); ok {
			if f := typeutil.StaticCallee(info, call); f != nil && f.Pkg() != nil && f.Pkg().Path() == "maps" {
				switch f.Name() {
				case "All", "Keys", "Values":
					w.report(model.Warning, n.For, fn, "ranges over maps.%s, in map order: %s", f.Name(), adviceMapRange)
				}
			}
		}
	}
}
