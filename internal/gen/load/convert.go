package load

// Converting go/types types into model types.

import (
	"go/types"
	"reflect"
	"strings"

	"github.com/better-state/better-state/internal/gen/model"
)

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
		mt := &model.Type{Kind: model.Named, Name: obj.Name(), Unmarshals: unmarshals(u)}
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
	ok, container := d.partsNameable(t, seen)
	return container && ok
}

// partsNameable reports, for a pointer, slice, array or map type
// (container), whether its parts are all types this package can name.
func (d *describer) partsNameable(t types.Type, seen map[types.Type]bool) (ok, container bool) {
	switch u := types.Unalias(t).(type) {
	case *types.Pointer:
		return d.nameable(u.Elem(), seen), true
	case *types.Slice:
		return d.nameable(u.Elem(), seen), true
	case *types.Array:
		return d.nameable(u.Elem(), seen), true
	case *types.Map:
		return d.nameable(u.Key(), seen) && d.nameable(u.Elem(), seen), true
	}
	return false, false
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
	}
	ok, _ := d.partsNameable(t, seen)
	return ok
}

// unmarshals reports whether *t decodes itself from JSON or text: the
// generated decoders must then leave its values to encoding/json.
func unmarshals(t *types.Named) bool {
	ms := types.NewMethodSet(types.NewPointer(t))
	return ms.Lookup(nil, "UnmarshalJSON") != nil || ms.Lookup(nil, "UnmarshalText") != nil
}
