package model

import (
	"cmp"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Shape is the description of the state and its actions that a client sends
// when it subscribes, so that a server built from another version of the
// schema can tell whether it can serve it (contract.Compatible). One line
// each, sorted within its group:
//
//	state todos.List
//	field [] items                 the JSON encoding's shape, field by field
//	field {} items[]
//	field string items[].title     (sorted by path, then kind)
//	action Add(title string)       each action's Go signature
//
// A field line is "field KIND PATH": PATH spells the JSON path (".name" into
// an object, "[]" into a slice or array, "{}" into a map's values), KIND is
// the Go type there: a basic type, "{}" for a struct, "[]", "[N]",
// "map[K]", "*" for a pointer (which adds a line and keeps the path), the
// qualified name of a type from another module such as time.Time, or
// "@Name" where a recursive type refers to itself. Named types of the
// schema's module are spelled out, so a field added to a type in another
// package of the module changes the shape too. Reordering
// declarations in the source does not.
func (s *State) Shape() string {
	var b strings.Builder
	b.WriteString("state " + s.WireName + "\n")
	var fields []string
	if u := s.Type.Underlying; u != nil && u.Kind == Struct {
		open := map[*Type]bool{s.Type: true}
		for _, f := range u.Fields {
			walkField(&fields, "", f, open)
		}
	}
	// By path, then kind: a type's lines read top-down.
	slices.SortFunc(fields, func(a, b string) int {
		ka, pa, _ := strings.Cut(strings.TrimPrefix(a, "field "), " ")
		kb, pb, _ := strings.Cut(strings.TrimPrefix(b, "field "), " ")
		return cmp.Or(strings.Compare(pa, pb), strings.Compare(ka, kb))
	})
	fields = slices.Compact(fields)
	for _, f := range fields {
		b.WriteString(f + "\n")
	}
	actions := make([]string, len(s.Actions))
	for i, a := range s.Actions {
		var l strings.Builder
		l.WriteString("action " + a.Name + "(")
		for j, p := range a.Params {
			if j > 0 {
				l.WriteString(", ")
			}
			l.WriteString(p.Name + " ")
			if a.Variadic && j == len(a.Params)-1 {
				l.WriteString("...")
			}
			describe(&l, p.Type, map[*Type]bool{})
		}
		l.WriteString(")")
		actions[i] = l.String()
	}
	slices.Sort(actions)
	for _, a := range actions {
		b.WriteString(a + "\n")
	}
	return b.String()
}

// expansion returns what a named type is spelled out as in a shape, or nil
// for a leaf (a type of another module, such as time.Time).
func (t *Type) expansion() *Type {
	if t.Underlying != nil {
		return t.Underlying
	}
	return t.Wire
}

// walkField adds the lines of struct field f, whose struct is at path.
func walkField(out *[]string, path string, f *Field, open map[*Type]bool) {
	if !onWire(f) {
		return // encoding/json leaves it out
	}
	if t, st := promoted(f); t != nil && !open[t] {
		open[t] = true
		for _, g := range st.Fields {
			walkField(out, path, g, open)
		}
		delete(open, t)
		return
	}
	if !f.Exported {
		return
	}
	p := f.JSON
	if path != "" {
		p = path + "." + f.JSON
	}
	walk(out, p, f.Type, open)
}

// onWire reports whether encoding/json writes field f, or, for an embedded
// struct, fields of it.
func onWire(f *Field) bool { return f.JSON != "-" && (f.Exported || f.Embedded) }

// promoted returns the named type of field f and its struct when f is an
// untagged embedded struct (or pointer to one), whose fields encoding/json
// promotes into the enclosing object; nil otherwise.
func promoted(f *Field) (named, st *Type) {
	if !f.Embedded || hasJSONName(f.Tag) {
		return nil, nil
	}
	t := f.Type
	if t.Kind == Pointer {
		t = t.Elem
	}
	if t.Kind != Named {
		return nil, nil
	}
	if u := t.expansion(); u != nil && u.Kind == Struct {
		return t, u
	}
	return nil, nil
}

func hasJSONName(tag string) bool {
	name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
	return name != ""
}

// walk adds the lines of a value of type t at path.
func walk(out *[]string, path string, t *Type, open map[*Type]bool) {
	line := func(kind string) { *out = append(*out, "field "+kind+" "+path) }
	switch t.Kind {
	case Basic:
		line(t.Name)
	case Named:
		u := t.expansion()
		switch {
		case u == nil:
			var b strings.Builder
			t.write(&b, true)
			line(b.String())
		case open[t]:
			var b strings.Builder
			t.write(&b, true)
			line("@" + b.String())
		default:
			open[t] = true
			walk(out, path, u, open)
			delete(open, t)
		}
	case Pointer:
		line("*")
		walk(out, path, t.Elem, open)
	case Slice:
		if e := t.Elem; e.Kind == Basic && (e.Name == "byte" || e.Name == "uint8") {
			line("[]byte") // base64 in JSON
			return
		}
		line("[]")
		walk(out, path+"[]", t.Elem, open)
	case Array:
		line("[" + strconv.FormatInt(t.Len, 10) + "]")
		walk(out, path+"[]", t.Elem, open)
	case Map:
		var b strings.Builder
		describe(&b, t.Key, map[*Type]bool{})
		line("map[" + b.String() + "]")
		walk(out, path+"{}", t.Elem, open)
	case Struct:
		line("{}")
		for _, f := range t.Fields {
			walkField(out, path, f, open)
		}
	}
}

// describe writes t with named types spelled out once per path: a recursive
// reference is written as its name only. It spells action parameters.
func describe(b *strings.Builder, t *Type, open map[*Type]bool) {
	switch t.Kind {
	case Named:
		t.write(b, true)
		if u := t.expansion(); u != nil && !open[t] {
			open[t] = true
			b.WriteByte('=')
			describe(b, u, open)
			delete(open, t)
		}
	case Pointer:
		b.WriteByte('*')
		describe(b, t.Elem, open)
	case Slice:
		b.WriteString("[]")
		describe(b, t.Elem, open)
	case Array:
		b.WriteString("[" + strconv.FormatInt(t.Len, 10) + "]")
		describe(b, t.Elem, open)
	case Map:
		b.WriteString("map[")
		describe(b, t.Key, open)
		b.WriteByte(']')
		describe(b, t.Elem, open)
	case Struct:
		b.WriteString("struct{")
		first := true
		for _, f := range t.Fields {
			if !onWire(f) {
				continue
			}
			if !first {
				b.WriteString("; ")
			}
			first = false
			if f.Embedded {
				b.WriteString("embed ")
			}
			b.WriteString(f.Name + " " + strconv.Quote(f.JSON) + " ")
			describe(b, f.Type, open)
		}
		b.WriteByte('}')
	default:
		t.write(b, true)
	}
}
