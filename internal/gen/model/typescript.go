package model

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// TypeScript writes TypeScript declarations of the JSON encoding of the
// types reached from roots: one interface per struct type (or a type alias
// for other named types), by Go name. TSType spells a type in them.
type TypeScript struct {
	decls map[string]string
	names map[*Type]string
	open  map[*Type]bool // embedded structs being promoted
	// viaPointer counts the embedded pointers the fields being written
	// are promoted through (encoding/json leaves them out when nil).
	viaPointer int
}

// NewTypeScript returns an empty set of declarations.
func NewTypeScript() *TypeScript {
	return &TypeScript{decls: map[string]string{}, names: map[*Type]string{}, open: map[*Type]bool{}}
}

// Decls returns the declarations, sorted by name.
func (ts *TypeScript) Decls() string {
	names := make([]string, 0, len(ts.decls))
	for n := range ts.decls {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(ts.decls[n])
	}
	return b.String()
}

// tsTaken are names the declarations use themselves (Client, imported;
// the generics Array and Record; the store interfaces' Promise), which a
// schema type may not shadow: such a type takes its package's name too.
var tsTaken = map[string]bool{"Client": true, "Array": true, "Record": true, "Promise": true, "Object": true, "String": true, "Number": true, "Boolean": true}

// tsName is the declaration name of a named type: its Go name, with its
// package's for a type of another package.
func (ts *TypeScript) tsName(t *Type) string {
	if n, ok := ts.names[t]; ok {
		return n
	}
	n := t.Name
	if !t.Local && t.PkgName != "" || tsTaken[n] {
		n = ExportName(t.PkgName) + ExportName(t.Name)
	}
	for i := 2; ; i++ { // two packages' types of one name
		if _, taken := ts.decls[n]; !taken {
			break
		}
		n = fmt.Sprintf("%s%d", strings.TrimRight(n, "0123456789"), i)
	}
	ts.names[t] = n
	return n
}

// TSType returns the TypeScript type of t's JSON encoding, declaring the
// named types it reaches.
func (ts *TypeScript) TSType(t *Type) string {
	switch t.Kind {
	case Basic:
		switch {
		case t.Name == "string":
			return "string"
		case t.Name == "bool":
			return "boolean"
		case strings.HasPrefix(t.Name, "float"), strings.HasPrefix(t.Name, "int"), strings.HasPrefix(t.Name, "uint"), t.Name == "byte", t.Name == "rune":
			return "number"
		}
		return "unknown"
	case Named:
		if t.Unmarshals {
			return "unknown"
		}
		u := t.expansion()
		if u == nil {
			if t.PkgPath == "time" && t.Name == "Time" {
				return "string"
			}
			return "unknown"
		}
		if n, ok := ts.names[t]; ok {
			return n
		}
		n := ts.tsName(t)
		ts.decls[n] = "" // taken: a recursive reference stops here
		if u.Kind == Struct {
			ts.decls[n] = fmt.Sprintf("export interface %s {\n%s}\n\n", n, ts.fields(u))
		} else {
			ts.decls[n] = fmt.Sprintf("export type %s = %s;\n\n", n, ts.TSType(u))
		}
		return n
	case Pointer:
		return ts.TSType(t.Elem) + " | null"
	case Slice:
		if t.Elem.Kind == Basic && (t.Elem.Name == "byte" || t.Elem.Name == "uint8") {
			return "string | null" // base64
		}
		return "Array<" + ts.TSType(t.Elem) + "> | null"
	case Array:
		return "Array<" + ts.TSType(t.Elem) + ">"
	case Map:
		return "Record<string, " + ts.TSType(t.Elem) + "> | null"
	case Struct:
		return "{\n" + ts.fields(t) + "}"
	}
	return "unknown"
}

// fields writes the members of struct t, promoting untagged embedded
// structs as encoding/json does; omitempty and omitzero fields are
// optional.
func (ts *TypeScript) fields(t *Type) string {
	var b strings.Builder
	for _, f := range t.Fields {
		if !onWire(f) {
			continue
		}
		if e, st := promoted(f); e != nil && !ts.open[e] {
			ts.open[e] = true
			ptr := f.Type.Kind == Pointer
			if ptr {
				ts.viaPointer++
			}
			b.WriteString(ts.fields(st))
			if ptr {
				ts.viaPointer--
			}
			delete(ts.open, e)
			continue
		}
		if !f.Exported {
			continue
		}
		opt := ""
		_, opts, _ := strings.Cut(reflect.StructTag(f.Tag).Get("json"), ",")
		if strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") || ts.viaPointer > 0 {
			opt = "?" // left out when empty, or when the embedded pointer is nil
		}
		typ := ts.TSType(f.Type)
		if strings.Contains(","+opts+",", ",string,") && (typ == "number" || typ == "boolean") {
			typ = "string" // ",string": the value travels quoted
		}
		fmt.Fprintf(&b, "  %s%s: %s;\n", tsKey(f.JSON), opt, typ)
	}
	return b.String()
}

// tsKey quotes a property name that is not an identifier.
func tsKey(s string) string {
	for i, r := range s {
		if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Sprintf("%q", s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
