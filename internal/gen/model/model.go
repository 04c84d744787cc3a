// Package model is bsgen's plain description of a schema package: its state
// types, their fields and actions, and the diagnostics found on the way.
//
// It sits between internal/gen/load (which reads go/types) and
// internal/gen/emit (which writes Go with jennifer) and depends on neither:
// nothing from go/types or jennifer appears here. Only bsgen's internal
// packages import it.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Package is one schema package.
type Package struct {
	Name   string // package name, e.g. "todos"
	Path   string // import path
	Dir    string // directory holding the package's files
	States []*State
	// Declared maps every package-scope name declared outside generated
	// files to where it is declared, so generated names can be checked
	// against them.
	Declared map[string]Pos
}

// State is one type marked //bs:state.
type State struct {
	Name     string // Go type name
	WireName string // name on the wire, "<package>.<Name>" unless overridden
	Type     *Type  // the named type itself (Kind Named, Local)
	Actions  []*Action
	Pos      Pos
}

// Action is one action method of a state.
type Action struct {
	Name   string
	Params []*Param // the parameters after ctx, in order
	// Variadic reports whether the last parameter is variadic; its Type is
	// then the slice type.
	Variadic bool
	Pos      Pos
}

// Param is one action parameter.
type Param struct {
	Name  string // the Go parameter name, also its JSON name in the envelope
	Field string // the envelope's exported Go field name
	Type  *Type
	Pos   Pos
}

// Kind is the kind of a Type.
type Kind int

// Kinds of types.
const (
	Basic   Kind = iota // a predeclared type such as string or int
	Named               // a defined type, see Type.Local and Type.Underlying
	Pointer             // *Elem
	Slice               // []Elem
	Array               // [Len]Elem
	Map                 // map[Key]Elem
	Struct              // struct{ Fields }
	// Other is a type that only appears where encoding/json ignores it
	// (an unexported or json:"-" field of a parameter's struct): a
	// channel, function or interface, spelled by Name and never cloned.
	Other
)

// Type is a Go type as far as bsgen needs it. Named types are shared: every
// use of the same named type points to the same *Type, so graphs of
// recursive types contain cycles and walkers keep visited sets.
type Type struct {
	Kind Kind
	// Name is the predeclared name for Basic, the type name for Named.
	Name string
	// PkgPath and PkgName identify a Named type's package ("" for a
	// predeclared named type such as error, which bsgen refuses anyway).
	PkgPath, PkgName string
	// Local reports whether a Named type is declared in the schema package.
	Local bool
	// Args are the type arguments of an instantiated generic Named type.
	Args []*Type
	// Underlying is the underlying type of a Named type. It is nil for an
	// opaque type: one from another package that is copied by value (a
	// struct such as time.Time, or a type bsgen cannot spell).
	Underlying *Type
	Elem       *Type    // Pointer, Slice, Array, Map
	Key        *Type    // Map
	Len        int64    // Array
	Fields     []*Field // Struct
}

// Field is one struct field.
type Field struct {
	Name     string // Go field name (the type's name for an embedded field)
	JSON     string // JSON name: from the tag, else Name; "-" if omitted
	Tag      string // the raw tag, without backquotes
	Embedded bool
	Exported bool
	Type     *Type
}

// Pos is a source position.
type Pos struct {
	File      string // absolute file name
	Line, Col int
}

// IsValid reports whether p names a place.
func (p Pos) IsValid() bool { return p.File != "" }

// Severity says whether a diagnostic stops generation.
type Severity int

// Severities.
const (
	Error Severity = iota
	Warning
)

// Diagnostic is a finding about the user's code, attached to one place.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	Message  string
}

// Format returns the diagnostic the way compilers print theirs,
// "file:line:col: message", with warnings marked. File names are made
// relative to base when they are inside it.
func (d Diagnostic) Format(base string) string {
	file := d.Pos.File
	if base != "" {
		if rel, ok := relative(base, file); ok {
			file = rel
		}
	}
	msg := d.Message
	if d.Severity == Warning {
		msg = "warning: " + msg
	}
	if !d.Pos.IsValid() {
		return msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, d.Pos.Line, d.Pos.Col, msg)
}

func relative(base, file string) (string, bool) {
	base = strings.TrimSuffix(base, "/") + "/"
	if strings.HasPrefix(file, base) {
		return file[len(base):], true
	}
	return "", false
}

// SortDiagnostics orders diagnostics by file, line, column and message.
func SortDiagnostics(ds []Diagnostic) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Message < b.Message
	})
}

// HasErrors reports whether any diagnostic is an error.
func HasErrors(ds []Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// NeedsDeepCopy reports whether copying a value of t by assignment would
// share memory with the original: t holds a pointer, slice or map that
// Clone must copy. Opaque named types are copied by value.
func (t *Type) NeedsDeepCopy() bool {
	return t.needsDeepCopy(map[*Type]bool{})
}

func (t *Type) needsDeepCopy(seen map[*Type]bool) bool {
	switch t.Kind {
	case Pointer, Slice, Map:
		return true
	case Array:
		return t.Elem.needsDeepCopy(seen)
	case Struct:
		for _, f := range t.Fields {
			if f.Type.needsDeepCopy(seen) {
				return true
			}
		}
		return false
	case Named:
		if t.Underlying == nil || seen[t] {
			// A cycle goes through a pointer, slice or map, which the
			// caller reports.
			return false
		}
		seen[t] = true
		return t.Underlying.needsDeepCopy(seen)
	}
	return false
}

// String returns t as Go source would spell it inside its package:
// local named types unqualified, others qualified by package name.
func (t *Type) String() string {
	var b strings.Builder
	t.write(&b, false)
	return b.String()
}

func (t *Type) write(b *strings.Builder, qualifyLocal bool) {
	switch t.Kind {
	case Basic, Other:
		b.WriteString(t.Name)
	case Named:
		if t.PkgName != "" && (!t.Local || qualifyLocal) {
			b.WriteString(t.PkgName)
			b.WriteByte('.')
		}
		b.WriteString(t.Name)
		if len(t.Args) > 0 {
			b.WriteByte('[')
			for i, a := range t.Args {
				if i > 0 {
					b.WriteByte(',')
				}
				a.write(b, qualifyLocal)
			}
			b.WriteByte(']')
		}
	case Pointer:
		b.WriteByte('*')
		t.Elem.write(b, qualifyLocal)
	case Slice:
		b.WriteString("[]")
		t.Elem.write(b, qualifyLocal)
	case Array:
		b.WriteString("[" + strconv.FormatInt(t.Len, 10) + "]")
		t.Elem.write(b, qualifyLocal)
	case Map:
		b.WriteString("map[")
		t.Key.write(b, qualifyLocal)
		b.WriteByte(']')
		t.Elem.write(b, qualifyLocal)
	case Struct:
		b.WriteString("struct{")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString("; ")
			}
			if !f.Embedded {
				b.WriteString(f.Name + " ")
			}
			f.Type.write(b, qualifyLocal)
			if f.Tag != "" {
				b.WriteString(" " + strconv.Quote(f.Tag))
			}
		}
		b.WriteByte('}')
	}
}

// Fingerprint returns the first 16 hex digits of the SHA-256 of the
// state's canonical shape description (see Shape).
func (s *State) Fingerprint() string {
	sum := sha256.Sum256([]byte(s.Shape()))
	return hex.EncodeToString(sum[:])[:16]
}

// Shape is the canonical description of the state's shape and its
// actions' shapes that the fingerprint hashes: the wire name, the state's
// type with every local named type spelled out (fields by Go name, JSON
// name and type), and each action's name and parameters, one per line.
// Changing any of them changes the fingerprint; reordering the declarations
// in the source does not.
func (s *State) Shape() string {
	var b strings.Builder
	b.WriteString("state " + s.WireName + " = ")
	describe(&b, s.Type, map[*Type]bool{})
	b.WriteByte('\n')
	for _, a := range s.Actions {
		b.WriteString("action " + a.Name + "(")
		for i, p := range a.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.Name + " ")
			if a.Variadic && i == len(a.Params)-1 {
				b.WriteString("...")
			}
			describe(&b, p.Type, map[*Type]bool{})
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// describe writes t with local named types expanded once per path: a
// recursive reference is written as its name only.
func describe(b *strings.Builder, t *Type, open map[*Type]bool) {
	switch t.Kind {
	case Named:
		t.write(b, true)
		if t.Local && t.Underlying != nil && !open[t] {
			open[t] = true
			b.WriteByte('=')
			describe(b, t.Underlying, open)
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
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString("; ")
			}
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
