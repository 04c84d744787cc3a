package emit

// Clone<S> and its deep-copy helpers.

import (
	"sort"
	"strconv"

	"github.com/better-state/better-state/internal/gen/model"
	"github.com/dave/jennifer/jen"
)

// clone emits Clone<S>.
func (e *emitter) clone(s *model.State) {
	name := "Clone" + s.Name
	e.declare(name)
	e.f.Commentf("%s returns a deep copy of src that shares no memory with it.", name)
	e.f.Func().Id(name).Params(jen.Id("src").Op("*").Id(s.Name)).Op("*").Id(s.Name).BlockFunc(func(g *jen.Group) {
		g.If(jen.Id("src").Op("==").Nil()).Block(jen.Return(jen.Nil()))
		g.Id("dst").Op(":=").Op("*").Id("src")
		for _, f := range s.Type.Underlying.Fields {
			e.fixup(g, valuePlace("dst").field(f.Name), f.Type, 1)
		}
		g.Return(jen.Op("&").Id("dst"))
	})
}

// place is an addressable place being cloned: code spells it, or a
// pointer to it when ptr is set.
type place struct {
	code func() *jen.Statement
	ptr  bool
}

func valuePlace(name string) place { return place{code: func() *jen.Statement { return jen.Id(name) }} }

func pointerPlace(name string) place {
	return place{code: func() *jen.Statement { return jen.Id(name) }, ptr: true}
}

func (p place) value() *jen.Statement {
	if p.ptr {
		return jen.Op("*").Add(p.code())
	}
	return p.code()
}

func (p place) addr() *jen.Statement {
	if p.ptr {
		return p.code()
	}
	return jen.Op("&").Add(p.code())
}

// field is valid on pointers too: Go dereferences them for selectors.
func (p place) field(name string) place {
	return place{code: func() *jen.Statement { return p.code().Dot(name) }}
}

func (p place) index(i string) place {
	if p.ptr {
		return place{code: func() *jen.Statement { return jen.Parens(p.value()).Index(jen.Id(i)) }}
	}
	return place{code: func() *jen.Statement { return p.value().Index(jen.Id(i)) }}
}

// fixup emits statements that, given a place holding a shallow copy of a
// value of type t, replace every bit of memory it shares with the original
// by a copy. depth numbers the variables of nested loops. slices.Clone and
// maps.Clone keep the named type of a slice or map.
func (e *emitter) fixup(g *jen.Group, p place, t *model.Type, depth int) {
	if !t.NeedsDeepCopy() {
		return
	}
	d := strconv.Itoa(depth)
	switch t.Kind {
	case model.Named:
		if t.Local {
			g.Id(e.helper(t)).Call(p.addr())
			return
		}
		// Another package's named pointer, slice, map or array type.
		e.fixup(g, p, t.Underlying, depth)
	case model.Slice:
		// slices.Clone and maps.Clone keep nil as nil.
		g.Add(p.value()).Op("=").Qual("slices", "Clone").Call(p.value())
		if t.Elem.NeedsDeepCopy() {
			i := "i" + d
			g.For(jen.Id(i).Op(":=").Range().Add(p.value())).BlockFunc(func(g *jen.Group) {
				e.fixup(g, p.index(i), t.Elem, depth+1)
			})
		}
	case model.Map:
		g.Add(p.value()).Op("=").Qual("maps", "Clone").Call(p.value())
		if t.Elem.NeedsDeepCopy() {
			k, v := "k"+d, "v"+d
			g.For(jen.List(jen.Id(k), jen.Id(v)).Op(":=").Range().Add(p.value())).BlockFunc(func(g *jen.Group) {
				e.fixup(g, valuePlace(v), t.Elem, depth+1)
				g.Add(p.index(k).code()).Op("=").Id(v)
			})
		}
	case model.Pointer:
		v := "v" + d
		g.If(p.value().Op("!=").Nil()).BlockFunc(func(g *jen.Group) {
			g.Id(v).Op(":=").Op("*").Add(p.value())
			e.fixup(g, valuePlace(v), t.Elem, depth+1)
			g.Add(p.value()).Op("=").Op("&").Id(v)
		})
	case model.Array:
		i := "i" + d
		g.For(jen.Id(i).Op(":=").Range().Add(p.value())).BlockFunc(func(g *jen.Group) {
			e.fixup(g, p.index(i), t.Elem, depth+1)
		})
	case model.Struct:
		for _, f := range t.Fields {
			e.fixup(g, p.field(f.Name), f.Type, depth)
		}
	}
}

// mangle spells a type argument as part of an identifier.
func mangle(t *model.Type) string {
	switch t.Kind {
	case model.Basic:
		return t.Name
	case model.Named:
		s := t.Name
		if !t.Local {
			s = t.PkgName + t.Name
		}
		for _, a := range t.Args {
			s += "_" + mangle(a)
		}
		return s
	case model.Pointer:
		return "Ptr" + mangle(t.Elem)
	case model.Slice:
		return "Slice" + mangle(t.Elem)
	case model.Array:
		return "Array" + strconv.FormatInt(t.Len, 10) + mangle(t.Elem)
	case model.Map:
		return "Map" + mangle(t.Key) + "To" + mangle(t.Elem)
	}
	return "Struct"
}

// helper returns the name of the deep-copy helper of the local named type
// t, queueing it for emission.
func (e *emitter) helper(t *model.Type) string {
	if name, ok := e.helpers[t]; ok {
		return name
	}
	name := "bsDeepCopy" + t.Name
	for _, a := range t.Args {
		name += "_" + mangle(a)
	}
	e.helpers[t] = name
	e.queue = append(e.queue, t)
	return name
}

// emitHelpers emits the queued helpers, sorted by name; emitting one may
// queue more.
func (e *emitter) emitHelpers() {
	var done []*model.Type
	for len(e.queue) > 0 {
		t := e.queue[0]
		e.queue = e.queue[1:]
		done = append(done, t)
		// Render each body now so that the types it needs are queued.
		_ = e.helperFunc(t)
	}
	sort.Slice(done, func(i, j int) bool { return e.helpers[done[i]] < e.helpers[done[j]] })
	for _, t := range done {
		e.declare(e.helpers[t])
		e.f.Commentf("%s replaces the memory that *x shares with the %s it was copied from by copies.", e.helpers[t], t.Name)
		e.f.Add(e.helperFunc(t))
	}
}

func (e *emitter) helperFunc(t *model.Type) *jen.Statement {
	return jen.Func().Id(e.helpers[t]).Params(jen.Id("x").Op("*").Add(e.typ(t))).BlockFunc(func(g *jen.Group) {
		p := pointerPlace("x")
		if t.Underlying.Kind == model.Struct {
			for _, f := range t.Underlying.Fields {
				e.fixup(g, p.field(f.Name), f.Type, 1)
			}
			return
		}
		e.fixup(g, p, t.Underlying, 1)
	})
}
