package contract

import (
	"bytes"
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/better-state/better-state/schema"
)

// What reaches the log must read the same in every language. encoding/json
// is lax in ways that other decoders are not: it replaces invalid UTF-8 and
// lone surrogates with U+FFFD, lets the last of two equal keys win, and
// matches field names without regard to case. Args that lean on any of that
// would be logged as sent and read differently by a JavaScript or Swift
// client. CheckJSON refuses the first three; CanonicalArgs re-encodes what
// is left from the action's envelope, so that the log holds one form only.

// maxJSONDepth bounds the nesting of args and of a state's JSON.
const maxJSONDepth = 128

// CheckJSON reports whether data is one JSON value that every decoder reads
// alike: valid syntax, valid UTF-8, no lone surrogate escapes, no object
// with two equal keys, nesting at most 128 deep. Its error is a CodeBadArgs
// *Error.
func CheckJSON(data []byte) error {
	if !json.Valid(data) {
		return Errorf(CodeBadArgs, "args are not valid JSON")
	}
	if !utf8.Valid(data) {
		return Errorf(CodeBadArgs, "args are not valid UTF-8")
	}
	v := strictScanner{data: data}
	v.value(0)
	return v.err
}

type strictScanner struct {
	data []byte
	i    int
	err  error
}

func (v *strictScanner) fail(format string, args ...any) {
	if v.err == nil {
		v.err = Errorf(CodeBadArgs, format, args...)
	}
}

func (v *strictScanner) space() {
	for v.i < len(v.data) {
		switch v.data[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

// value checks the value at v.i, which json.Valid has already checked for
// syntax.
func (v *strictScanner) value(depth int) {
	if v.err != nil {
		return
	}
	if depth > maxJSONDepth {
		v.fail("args nest deeper than %d", maxJSONDepth)
		return
	}
	v.space()
	switch v.data[v.i] {
	case '{':
		v.i++
		var keys []string
		var seen map[string]bool
		for {
			v.space()
			if v.data[v.i] == '}' {
				v.i++
				return
			}
			if v.data[v.i] == ',' {
				v.i++
				v.space()
			}
			k := v.str()
			if v.err != nil {
				return
			}
			if seen != nil {
				if seen[k] {
					v.fail("args have the key %q twice", k)
					return
				}
				seen[k] = true
			} else {
				for _, have := range keys {
					if have == k {
						v.fail("args have the key %q twice", k)
						return
					}
				}
				keys = append(keys, k)
				if len(keys) > 16 {
					// Many keys: a set, or a 1 MiB object of short keys
					// costs quadratic time on the room's goroutine.
					seen = make(map[string]bool, 64)
					for _, have := range keys {
						seen[have] = true
					}
				}
			}
			v.space()
			v.i++ // ':'
			v.value(depth + 1)
			if v.err != nil {
				return
			}
		}
	case '[':
		v.i++
		for {
			v.space()
			if v.data[v.i] == ']' {
				v.i++
				return
			}
			if v.data[v.i] == ',' {
				v.i++
			}
			v.value(depth + 1)
			if v.err != nil {
				return
			}
		}
	case '"':
		v.str()
	default:
		for v.i < len(v.data) {
			switch v.data[v.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			v.i++
		}
	}
}

// str reads the string at v.i and returns its decoded value, refusing lone
// surrogates. Objects with few keys are the rule, so keys are compared
// decoded, one by one.
func (v *strictScanner) str() string {
	v.i++ // opening quote
	start := v.i
	plain := true
	for v.data[v.i] != '"' {
		if v.data[v.i] == '\\' {
			plain = false
			if v.data[v.i+1] == 'u' {
				r := hex4(v.data[v.i+2 : v.i+6])
				v.i += 6
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || v.i+6 > len(v.data) || v.data[v.i] != '\\' || v.data[v.i+1] != 'u' {
						v.fail("args hold a lone surrogate \\u%04x", r)
						return ""
					}
					r2 := hex4(v.data[v.i+2 : v.i+6])
					if r2 < 0xDC00 || r2 > 0xDFFF {
						v.fail("args hold a lone surrogate \\u%04x", r)
						return ""
					}
					v.i += 6
				}
				continue
			}
			v.i += 2
			continue
		}
		v.i++
	}
	raw := v.data[start:v.i]
	v.i++ // closing quote
	if plain {
		return string(raw)
	}
	var out string
	if json.Unmarshal(v.data[start-1:v.i], &out) != nil {
		v.fail("args hold an undecodable string")
	}
	return out
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		}
	}
	return r
}

// CanonicalArgs checks an action's JSON arguments (CheckJSON), decodes them
// strictly into the action's envelope and returns the envelope's encoding:
// the one form the log keeps. Empty or null args are {}. Errors are
// CodeUnknownAction or CodeBadArgs *Errors.
func (t *Type) CanonicalArgs(action string, data []byte) ([]byte, error) {
	_, canon, err := t.Canonical(action, data)
	return canon, err
}

// Canonical is CanonicalArgs that also returns the decoded envelope, for
// ApplyArgs (nil when the type's code predates envelopes).
func (t *Type) Canonical(action string, data []byte) (env any, canon []byte, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		data = []byte("{}")
	}
	if data[0] != '{' {
		return nil, nil, Errorf(CodeBadArgs, "%s: args must be a JSON object", action)
	}
	if t.Args == nil {
		// Code generated before envelopes were exposed: checked, compacted.
		if !t.HasAction(action) {
			return nil, nil, UnknownAction(t.Name, action)
		}
		if err := checkStrict(action, data, true); err != nil {
			return nil, nil, err
		}
		var buf bytes.Buffer
		json.Compact(&buf, data)
		return nil, buf.Bytes(), nil
	}
	env = t.Args(action)
	if env == nil {
		return nil, nil, UnknownAction(t.Name, action)
	}
	// DecodeArgs checks the syntax (a generated decoder checks the
	// object and each value; encoding/json does for other types): the
	// strict checks after it need not again.
	if err := DecodeArgs(action, data, env); err != nil {
		return nil, nil, err
	}
	if err := checkStrict(action, data, false); err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		return nil, nil, Errorf(CodeBadArgs, "%s: %v", action, err)
	}
	return env, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkStrict is CheckJSON, with the syntax check only if syntax is set
// (data not yet known to be valid JSON), and the action in the message.
func checkStrict(action string, data []byte, syntax bool) error {
	var err error
	switch {
	case syntax && !json.Valid(data):
		err = Errorf(CodeBadArgs, "args are not valid JSON")
	case !utf8.Valid(data):
		err = Errorf(CodeBadArgs, "args are not valid UTF-8")
	default:
		v := strictScanner{data: data}
		v.value(0)
		err = v.err
	}
	if err != nil {
		e := err.(*Error)
		e.Message = action + ": " + e.Message
		return e
	}
	return nil
}

// ApplyArgs is Apply with arguments already decoded by Canonical: the
// envelope is passed to the action as it is, not decoded again. It falls
// back to Apply with canon for code generated without Call.
func (t *Type) ApplyArgs(state any, ctx schema.Ctx, action string, env any, canon []byte) (err error) {
	if t.Call == nil || env == nil {
		return t.Apply(state, ctx, action, canon)
	}
	defer func() {
		if r := recover(); r != nil {
			err = Errorf(CodeActionPanic, "%s.%s panicked: %v", t.Name, action, r)
		}
	}()
	return t.Call(state, ctx, action, env)
}
