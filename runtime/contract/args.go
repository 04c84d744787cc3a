package contract

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Decoding an action's arguments. bsgen generates an UnmarshalArgs method
// for every envelope: it walks the object with ObjectFields and decodes each
// field it knows with the helper for the field's type. Keys must match a
// parameter's name exactly (encoding/json would also take other cases), a
// key may appear once, and anything unknown is refused: the generated code
// knows every field, so no reflection is needed and nothing is lax.

// ArgsUnmarshaler is implemented by the envelopes bsgen generates.
type ArgsUnmarshaler interface {
	UnmarshalArgs(action string, data []byte) error
}

// DecodeArgs decodes an action's JSON arguments into the envelope v
// strictly: unknown, duplicate or wrongly-cased fields, trailing data and
// ill-typed values are CodeBadArgs errors. Empty args (or null) decode as
// {}: all parameters zero. Generated envelopes decode themselves
// (UnmarshalArgs); other types go through encoding/json with unknown fields
// disallowed.
func DecodeArgs(action string, data []byte, v any) error {
	if u, ok := v.(ArgsUnmarshaler); ok {
		return u.UnmarshalArgs(action, data)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return nil
	}
	if data[0] != '{' {
		return Errorf(CodeBadArgs, "%s: args must be a JSON object", action)
	}
	return strict(action, data, v)
}

// strict decodes data into v with encoding/json, unknown fields refused.
func strict(action string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadArgs, "%s: %v", action, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return Errorf(CodeBadArgs, "%s: trailing data after args", action)
	}
	return nil
}

// maxArgFields bounds the members of an args object: an envelope has one
// per parameter, so a few dozen is already odd.
const maxArgFields = 256

// ObjectFields calls field with the key and the raw value of each member
// of the JSON object data, in order. Empty data or null is an object
// without members. Not an object, malformed JSON, a key given twice, more
// than 256 members or trailing data are CodeBadArgs errors, and so is
// field's error.
func ObjectFields(action string, data []byte, field func(key string, value []byte) error) error {
	i := skipSpace(data, 0)
	if i == len(data) {
		return nil
	}
	if bytes.Equal(bytes.TrimSpace(data[i:]), []byte("null")) {
		return nil
	}
	if data[i] != '{' {
		return Errorf(CodeBadArgs, "%s: args must be a JSON object", action)
	}
	var seen [maxArgFields]string
	n := 0
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return trailing(action, data, i+1)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return Errorf(CodeBadArgs, "%s: malformed args: a key must be a string", action)
		}
		end, ok := skipString(data, i)
		if !ok {
			return Errorf(CodeBadArgs, "%s: malformed args: unterminated key", action)
		}
		key, err := unquote(data[i:end])
		if err != nil {
			return Errorf(CodeBadArgs, "%s: malformed args: bad key %s", action, data[i:end])
		}
		for _, k := range seen[:n] {
			if k == key {
				return Errorf(CodeBadArgs, "%s: %q is given twice", action, key)
			}
		}
		if n == maxArgFields {
			return Errorf(CodeBadArgs, "%s: over %d fields", action, maxArgFields)
		}
		seen[n] = key
		n++
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return Errorf(CodeBadArgs, "%s: malformed args: ':' expected after %q", action, key)
		}
		start := skipSpace(data, i+1)
		stop, ok := skipValue(data, start)
		if !ok || stop == start {
			return Errorf(CodeBadArgs, "%s: malformed args: bad value of %q", action, key)
		}
		if err := field(key, data[start:stop]); err != nil {
			return err
		}
		i = skipSpace(data, stop)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			return trailing(action, data, i+1)
		}
		return Errorf(CodeBadArgs, "%s: malformed args: ',' or '}' expected after %q", action, key)
	}
}

func trailing(action string, data []byte, i int) error {
	if skipSpace(data, i) != len(data) {
		return Errorf(CodeBadArgs, "%s: trailing data after args", action)
	}
	return nil
}

// UnknownField is the error of a generated UnmarshalArgs for a key that
// names no parameter.
func UnknownField(action, key string) error {
	return Errorf(CodeBadArgs, "%s: unknown field %q", action, key)
}

// fieldError wraps a value's decoding error.
func fieldError(action, key string, err error) error {
	return Errorf(CodeBadArgs, "%s: %s: %v", action, key, err)
}

// String decodes the raw JSON value v of field key into dst. A plain string
// (no escapes, printable ASCII) is copied as it is; anything else takes
// encoding/json, so the result is always encoding/json's.
func String[T ~string](action, key string, v []byte, dst *T) error {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && plain(v[1:len(v)-1]) {
		*dst = T(v[1 : len(v)-1])
		return nil
	}
	return Value(action, key, v, dst)
}

// plain reports whether b needs no unescaping: printable ASCII without
// quotes or backslashes.
func plain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Int decodes an integer field; see String.
func Int[T ~int | ~int8 | ~int16 | ~int32 | ~int64](action, key string, v []byte, dst *T) error {
	if integer(v) {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && int64(T(n)) == n {
			*dst = T(n)
			return nil
		}
	}
	return Value(action, key, v, dst)
}

// Uint decodes an unsigned integer field; see String.
func Uint[T ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64](action, key string, v []byte, dst *T) error {
	if integer(v) && v[0] != '-' {
		if n, err := strconv.ParseUint(string(v), 10, 64); err == nil && uint64(T(n)) == n {
			*dst = T(n)
			return nil
		}
	}
	return Value(action, key, v, dst)
}

// integer reports whether v is a JSON integer: -?(0|[1-9][0-9]*).
func integer(v []byte) bool {
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Bool decodes a boolean field; see String.
func Bool[T ~bool](action, key string, v []byte, dst *T) error {
	switch string(v) {
	case "true":
		*dst = true
		return nil
	case "false":
		*dst = false
		return nil
	}
	return Value(action, key, v, dst)
}

// Value decodes any field with encoding/json, unknown fields of nested
// structs refused.
func Value(action, key string, v []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fieldError(action, key, err)
	}
	if dec.More() {
		return fieldError(action, key, errTrailing)
	}
	return nil
}

var errTrailing = Errorf(CodeBadArgs, "trailing data")

func unquote(s []byte) (string, error) {
	if plain(s[1 : len(s)-1]) {
		return string(s[1 : len(s)-1]), nil
	}
	var k string
	err := json.Unmarshal(s, &k)
	return k, err
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

// skipValue returns the index after the JSON value starting at i: a string,
// a bracketed array or object (whose insides the field's decoder checks),
// or a scalar up to the next delimiter.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return end, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, true
		}
		i++
	}
	return i, true
}
