package load

// What a state field or an action parameter may be: JSON-serializable and
// cloneable.

import (
	"fmt"
	"go/token"
	"go/types"
)

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
			d.machineInt(f.Type(), f.Pos(), what)
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

const (
	reasonChan      = "a channel cannot be sent as JSON or cloned; send or store the values themselves (a slice)"
	reasonFunc      = "a function cannot be sent as JSON or cloned; send data that selects the behaviour instead"
	reasonUnsafe    = "unsafe.Pointer cannot be sent as JSON or cloned; use a concrete type"
	reasonInterface = "an interface does not decode from JSON into a definite type and cannot be cloned without reflection; use a concrete type"
	reasonComplex   = "complex numbers are not JSON-serializable; use two float64 fields"
	reasonMapKey    = "JSON object keys are strings; use a map whose key is string-kinded (string or a type defined as string)"
)

// machineInt warns when t holds an int, uint or uintptr: 32 bits on 386 and
// 32-bit arm (old phones through gomobile), 64 elsewhere, so a value past
// 2^31 overflows on some replicas only.
func (d *describer) machineInt(t types.Type, pos token.Pos, what string) {
	if b := findMachineInt(t, map[types.Type]bool{}); b != nil {
		d.warnf(pos, "%s holds %s, whose size depends on the machine (32 bits on 386 and 32-bit arm): a replica there overflows where amd64 does not; use int64, or int32 if it must fit 32 bits", what, b.Name())
	}
}

func findMachineInt(t types.Type, seen map[types.Type]bool) *types.Basic {
	t = types.Unalias(t)
	if seen[t] {
		return nil
	}
	seen[t] = true
	switch u := t.(type) {
	case *types.Basic:
		switch u.Kind() {
		case types.Int, types.Uint, types.Uintptr:
			return u
		}
	case *types.Named:
		return findMachineInt(u.Underlying(), seen)
	case *types.Pointer:
		return findMachineInt(u.Elem(), seen)
	case *types.Slice:
		return findMachineInt(u.Elem(), seen)
	case *types.Array:
		return findMachineInt(u.Elem(), seen)
	case *types.Map:
		if b := findMachineInt(u.Key(), seen); b != nil {
			return b
		}
		return findMachineInt(u.Elem(), seen)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			if f := u.Field(i); f.Exported() {
				if b := findMachineInt(f.Type(), seen); b != nil {
					return b
				}
			}
		}
	}
	return nil
}
