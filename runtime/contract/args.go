package contract

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// The fast path of DecodeArgs. json.Decoder with DisallowUnknownFields costs
// about three times json.Unmarshal for small args, and every mutation and
// every replayed event decodes its args. For flat argument structs (what
// bsgen generates: one field per parameter, none of them a struct or a map),
// DecodeArgs checks the object's top-level keys against the struct's fields
// itself, then uses json.Unmarshal. Anything else takes the Decoder path.

// argFields is the set of JSON names of a flat struct, or nil when the
// struct is not flat.
type argFields struct {
	names []string
}

var argFieldsCache sync.Map // reflect.Type -> *argFields

func fieldsOf(v any) *argFields {
	t := reflect.TypeOf(v)
	if f, ok := argFieldsCache.Load(t); ok {
		return f.(*argFields)
	}
	f := computeFields(t)
	argFieldsCache.Store(t, f)
	return f
}

func computeFields(t reflect.Type) *argFields {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	st := t.Elem()
	f := &argFields{names: []string{}}
	for i := range st.NumField() {
		sf := st.Field(i)
		if sf.Anonymous || !sf.IsExported() {
			return nil
		}
		if !flatKind(sf.Type) {
			return nil
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				return nil
			}
			if n != "" {
				name = n
			}
		}
		f.names = append(f.names, name)
	}
	return f
}

// flatKind reports whether values of t hold no JSON objects, so that unknown
// fields can only appear at the top level.
func flatKind(t reflect.Type) bool {
	if t.Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice, reflect.Array, reflect.Pointer:
		return flatKind(t.Elem())
	}
	return false
}

// known reports whether every top-level key of the valid JSON object data
// names a field (matched as encoding/json matches: exactly, or else without
// regard to case). ok is false when the keys could not be checked here (an
// escaped key), and the caller must take the Decoder path.
func (f *argFields) known(data []byte) (allKnown, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false, false
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) {
			return false, false
		}
		if data[i] == '}' {
			return true, true
		}
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
		if i >= len(data) || data[i] != '"' {
			return false, false
		}
		end := i + 1
		for end < len(data) && data[end] != '"' {
			if data[end] == '\\' {
				return false, false
			}
			end++
		}
		if end >= len(data) {
			return false, false
		}
		if !f.has(data[i+1 : end]) {
			return false, true
		}
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return false, false
		}
		i, ok = skipValue(data, skipSpace(data, i+1))
		if !ok {
			return false, false
		}
	}
}

func (f *argFields) has(key []byte) bool {
	for _, n := range f.names {
		if n == string(key) {
			return true
		}
	}
	for _, n := range f.names {
		if strings.EqualFold(n, string(key)) {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index after the JSON value starting at i, in data
// already known to be valid JSON.
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i, true
			}
			i++
		default:
			i++
		}
		if depth == 0 && i < len(b) {
			j := skipSpace(b, i)
			if j < len(b) && (b[j] == ',' || b[j] == '}' || b[j] == ']') {
				return j, true
			}
		}
	}
	return i, false
}
