package server

// JSON Pointers (RFC 6901) evaluated on a state as its JSON encoding has
// it, without encoding the whole state: blame looks up one path after each
// event of a long log, and encoding a state of a few kilobytes 100,000
// times would take seconds. The walk follows encoding/json's rules for
// field names (tags, "-", omitempty, omitzero, embedded structs and their
// dominance); a type it cannot follow exactly (one with its own
// MarshalJSON or MarshalText, a ",string" field, a map whose keys are not
// strings) makes it fall back to encoding the whole state.

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// pointer is a parsed JSON Pointer: its reference tokens, unescaped. The
// empty pointer refers to the whole document.
type pointer []string

// maxPointerBytes bounds a pointer given to blame.
const maxPointerBytes = 1024

func parsePointer(s string) (pointer, error) {
	if s == "" {
		return pointer{}, nil
	}
	if len(s) > maxPointerBytes {
		return nil, errors.New("the path is longer than 1024 bytes")
	}
	if s[0] != '/' {
		return nil, errors.New(`a JSON Pointer is empty or starts with "/"`)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("the path is not valid UTF-8")
	}
	toks := strings.Split(s[1:], "/")
	for i, t := range toks {
		if !strings.Contains(t, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(t); j++ {
			if t[j] != '~' {
				b.WriteByte(t[j])
				continue
			}
			if j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1') {
				return nil, errors.New(`"~" in a JSON Pointer is "~0" or "~1"`)
			}
			if t[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		toks[i] = b.String()
	}
	return toks, nil
}

func (p pointer) String() string {
	var b strings.Builder
	for _, t := range p {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// errSlowPath says that the walk met a type whose encoding it cannot
// follow.
var errSlowPath = errors.New("pointer: encoding not followed")

// valueAt returns the JSON encoding of the value at p in state (a pointer
// to a state), and false if the encoding of state has nothing there.
func valueAt(state any, p pointer, encode func(any) ([]byte, error)) ([]byte, bool, error) {
	b, ok, err := walkValue(reflect.ValueOf(state), p)
	if errors.Is(err, errSlowPath) {
		whole, err := encode(state)
		if err != nil {
			return nil, false, err
		}
		return valueInJSON(whole, p)
	}
	return b, ok, err
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// ownEncoding reports whether t (or *t) encodes itself.
func ownEncoding(t reflect.Type) bool {
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) {
		return true
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		return pt.Implements(marshalerType) || pt.Implements(textMarshalerType)
	}
	return false
}

func walkValue(v reflect.Value, p pointer) ([]byte, bool, error) {
	for _, tok := range p {
		// Pointers and interfaces encode as what they hold; nil as null,
		// which has no members.
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return nil, false, nil
			}
			if ownEncoding(v.Type()) {
				return nil, false, errSlowPath
			}
			v = v.Elem()
		}
		if ownEncoding(v.Type()) {
			return nil, false, errSlowPath
		}
		switch v.Kind() {
		case reflect.Struct:
			fields := structFields(v.Type())
			if _, slow := fields[slowStruct]; slow {
				return nil, false, errSlowPath
			}
			f, ok := fields[tok]
			if !ok {
				return nil, false, nil
			}
			if f.slow {
				return nil, false, errSlowPath
			}
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				return nil, false, nil // through a nil embedded pointer: not encoded
			}
			if f.omitted(fv) {
				return nil, false, nil
			}
			v = fv
		case reflect.Slice, reflect.Array:
			if et := v.Type().Elem(); et.Kind() == reflect.Uint8 && ownEncoding(et) {
				return nil, false, errSlowPath // bytes that encode themselves: an array
			}
			if v.Kind() == reflect.Slice && (v.IsNil() || v.Type().Elem().Kind() == reflect.Uint8) {
				return nil, false, nil // null, or a base64 string
			}
			i, ok := arrayIndex(tok)
			if !ok || i >= v.Len() {
				return nil, false, nil
			}
			v = v.Index(i)
		case reflect.Map:
			if v.Type().Key().Kind() != reflect.String || ownEncoding(v.Type().Key()) {
				return nil, false, errSlowPath
			}
			if strings.ContainsRune(tok, utf8.RuneError) {
				return nil, false, errSlowPath // keys that are not UTF-8 encode as U+FFFD
			}
			if v.IsNil() {
				return nil, false, nil
			}
			e := v.MapIndex(reflect.ValueOf(tok).Convert(v.Type().Key()))
			if !e.IsValid() {
				return nil, false, nil
			}
			v = e
		default:
			return nil, false, nil // a scalar has no members
		}
	}
	if !v.IsValid() {
		return []byte("null"), true, nil
	}
	// encoding/json uses the pointer methods of addressable values (all
	// under the state's pointer, except in maps): so does this.
	x := v.Interface()
	if v.CanAddr() {
		x = v.Addr().Interface()
	}
	b, err := json.Marshal(x)
	return b, err == nil, err
}

// arrayIndex parses an array token: digits, without leading zeros.
func arrayIndex(tok string) (int, bool) {
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(tok)
	return n, err == nil
}

type jsonField struct {
	index     []int
	omitEmpty bool
	omitZero  bool
	slow      bool // ",string", or omitzero with an IsZero method
}

func (f jsonField) omitted(v reflect.Value) bool {
	if f.omitZero && v.IsZero() {
		return true
	}
	if !f.omitEmpty {
		return false
	}
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

var fieldCache sync.Map // reflect.Type -> map[string]jsonField

// slowStruct, a name no valid tag spells, marks a struct whose fields the
// walk does not work out: one that embeds a struct type twice at one
// depth, whose fields encoding/json cancels.
const slowStruct = "\x00slow"

// structFields returns the fields encoding/json writes for t, by name.
func structFields(t reflect.Type) map[string]jsonField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]jsonField)
	}
	type cand struct {
		name   string
		depth  int
		tagged bool
		f      jsonField
	}
	var cands []cand
	type level struct {
		t     reflect.Type
		index []int
	}
	current := []level{{t: t}}
	visited := map[reflect.Type]bool{}
	slowAll := false
	for depth := 0; len(current) > 0; depth++ {
		var next []level
		seen := map[reflect.Type]int{}
		for _, l := range current {
			if seen[l.t]++; seen[l.t] > 1 {
				slowAll = true // encoding/json cancels such fields
			}
		}
		for _, l := range current {
			if visited[l.t] {
				continue
			}
			visited[l.t] = true
			for i := 0; i < l.t.NumField(); i++ {
				sf := l.t.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = "" // encoding/json uses the field's name then
				}
				index := append(append([]int(nil), l.index...), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, level{t: ft, index: index})
					continue
				}
				tagged := name != ""
				if name == "" {
					name = sf.Name
				}
				f := jsonField{index: index}
				for _, o := range strings.Split(opts, ",") {
					switch o {
					case "omitempty":
						f.omitEmpty = true
					case "omitzero":
						f.omitZero = true
						_, ok := sf.Type.MethodByName("IsZero")
						_, pok := reflect.PointerTo(sf.Type).MethodByName("IsZero")
						if ok || pok {
							f.slow = true
						}
					case "string":
						f.slow = true
					}
				}
				cands = append(cands, cand{name: name, depth: depth, tagged: tagged, f: f})
			}
		}
		current = next
	}
	// Dominance: the shallowest field of a name wins; at the same depth,
	// the one tagged, if it alone is; otherwise none.
	byName := map[string][]cand{}
	for _, c := range cands {
		byName[c.name] = append(byName[c.name], c)
	}
	out := make(map[string]jsonField, len(byName))
	for name, cs := range byName {
		best := cs[0].depth
		for _, c := range cs {
			best = min(best, c.depth)
		}
		var top []cand
		for _, c := range cs {
			if c.depth == best {
				top = append(top, c)
			}
		}
		if len(top) > 1 {
			var tagged []cand
			for _, c := range top {
				if c.tagged {
					tagged = append(tagged, c)
				}
			}
			if len(tagged) != 1 {
				continue
			}
			top = tagged
		}
		out[name] = top[0].f
	}
	if slowAll {
		out[slowStruct] = jsonField{slow: true}
	}
	fieldCache.Store(t, out)
	return out
}

// validTagName is encoding/json's rule for a name in a tag; with another
// name, it uses the field's.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// valueInJSON evaluates p on a JSON document, returning the value's
// bytes as the document has them.
func valueInJSON(doc []byte, p pointer) ([]byte, bool, error) {
	v := json.RawMessage(bytes.TrimSpace(doc))
	for _, tok := range p {
		switch {
		case len(v) > 0 && v[0] == '{':
			var m map[string]json.RawMessage
			if err := json.Unmarshal(v, &m); err != nil {
				return nil, false, err
			}
			e, ok := m[tok]
			if !ok {
				return nil, false, nil
			}
			v = e
		case len(v) > 0 && v[0] == '[':
			var a []json.RawMessage
			if err := json.Unmarshal(v, &a); err != nil {
				return nil, false, err
			}
			i, ok := arrayIndex(tok)
			if !ok || i >= len(a) {
				return nil, false, nil
			}
			v = a[i]
		default:
			return nil, false, nil
		}
	}
	return v, true, nil
}
