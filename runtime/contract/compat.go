package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// FingerprintOf returns the fingerprint of a shape description: the first
// 16 hex digits of its SHA-256. bsgen writes FingerprintOf(Shape) into
// every Type.
func FingerprintOf(shape string) string {
	sum := sha256.Sum256([]byte(shape))
	return hex.EncodeToString(sum[:])[:16]
}

// CodeSchemaMismatch is the code of a client whose schema the server cannot
// serve (see Compatible).
const CodeSchemaMismatch = "schema_mismatch"

// MaxShapeBytes bounds the shape description a client may send.
const MaxShapeBytes = 64 << 10

// SchemaError says why a client's schema cannot be served: one difference
// per line of Diffs, each naming the field or action.
type SchemaError struct {
	Type  string
	Diffs []string
}

func (e *SchemaError) Error() string {
	const shown = maxCachedDiffs + 1
	d := e.Diffs
	more := ""
	if len(d) > shown {
		more = fmt.Sprintf("; and %d more", len(d)-shown)
		d = d[:shown]
	}
	return fmt.Sprintf("%s: the client's schema differs from the server's: %s%s", e.Type, strings.Join(d, "; "), more)
}

// Compatible reports whether a server whose type is t can serve a client
// whose type has the shape clientShape (Type.Shape of the client's build).
// It is nil when every field the client reads is on the server with the
// same type (the server may have more fields: old clients ignore them) and
// every action the client may send is on the server with the same
// parameters (the server may have more actions). Otherwise it is a
// *SchemaError that names each field and action that differ.
func Compatible(t *Type, clientShape string) error {
	if clientShape == t.Shape {
		return nil
	}
	bad := func(msg string) error { return &SchemaError{Type: t.Name, Diffs: []string{msg}} }
	if len(clientShape) > MaxShapeBytes {
		return bad(fmt.Sprintf("the client's shape description is over %d bytes", MaxShapeBytes))
	}
	if clientShape == "" {
		return bad("the client sent no shape description (a client built before schema compatibility): regenerate it with bsgen")
	}
	srv, cli := parseShape(t.Shape), parseShape(clientShape)
	if cli.state != srv.state {
		return bad(fmt.Sprintf("the client describes state %q", cli.state))
	}
	e := &SchemaError{Type: t.Name}
	for _, path := range cli.paths {
		want, have := cli.fields[path], srv.fields[path]
		switch {
		case len(have) == 0:
			e.Diffs = append(e.Diffs, fmt.Sprintf("field %s (%s) is not on the server", path, strings.Join(want, " ")))
		case !subset(want, have):
			e.Diffs = append(e.Diffs, fmt.Sprintf("field %s is %s on the client, %s on the server", path, strings.Join(want, " "), strings.Join(have, " ")))
		}
	}
	for _, name := range cli.actionNames {
		want, have := cli.actions[name], srv.actions[name]
		switch {
		case have == "":
			e.Diffs = append(e.Diffs, fmt.Sprintf("action %s is not on the server", name))
		case want != have:
			e.Diffs = append(e.Diffs, fmt.Sprintf("action %s is %s on the client, %s on the server", name, want, have))
		}
	}
	if len(e.Diffs) == 0 {
		return nil
	}
	return e
}

type shape struct {
	state       string
	fields      map[string][]string // path -> kinds
	paths       []string            // in the order of the description
	actions     map[string]string   // name -> signature
	actionNames []string
}

func parseShape(s string) shape {
	sh := shape{fields: map[string][]string{}, actions: map[string]string{}}
	for line := range strings.SplitSeq(s, "\n") {
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "state":
			sh.state = rest
		case "field":
			kind, path, _ := strings.Cut(rest, " ")
			if _, seen := sh.fields[path]; !seen {
				sh.paths = append(sh.paths, path)
			}
			sh.fields[path] = append(sh.fields[path], kind)
		case "action":
			name, _, _ := strings.Cut(rest, "(")
			if _, seen := sh.actions[name]; !seen {
				sh.actionNames = append(sh.actionNames, name)
			}
			sh.actions[name] = strings.TrimPrefix(rest, name)
		}
	}
	return sh
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
