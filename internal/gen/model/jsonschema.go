package model

import (
	"encoding/json"
	"reflect"
	"strings"
)

// JSONSchema describes the state's JSON encoding and each action's
// arguments as one JSON Schema (draft 2020-12) document, for clients in
// other languages (GET /v1/types):
//
//	{"state": {...}, "actions": {"Add": {...}, ...}, "$defs": {...}}
//
// and "presence": {...}, the presence type's encoding, when it has one.
// Named types of the schema's module are "$defs" entries named
// "package.Type", referenced as "#/$defs/package.Type". A state's fields
// without omitempty are required (encoding/json always writes them); an
// action's arguments are all optional (a missing one is its zero value),
// and no other key is allowed. Nil slices and maps encode as null.
func (s *State) JSONSchema() string {
	g := &schemaGen{defs: map[string]any{}, open: map[*Type]bool{}}
	actions := map[string]any{}
	for _, a := range s.Actions {
		props := map[string]any{}
		for _, p := range a.Params {
			props[p.Name] = g.schema(p.Type)
		}
		actions[a.Name] = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	doc := map[string]any{"state": g.schema(s.Type), "actions": actions}
	if s.Presence != nil {
		doc["presence"] = g.schema(s.Presence.Type)
	}
	if len(g.defs) > 0 {
		doc["$defs"] = g.defs
	}
	b, err := json.Marshal(doc) // sorted keys: the same text every run
	if err != nil {
		panic(err) // only maps, slices and strings
	}
	return string(b)
}

type schemaGen struct {
	defs map[string]any
	open map[*Type]bool // embedded structs being promoted
}

func (g *schemaGen) schema(t *Type) any {
	switch t.Kind {
	case Basic:
		switch {
		case t.Name == "string":
			return map[string]any{"type": "string"}
		case t.Name == "bool":
			return map[string]any{"type": "boolean"}
		case strings.HasPrefix(t.Name, "float"):
			return map[string]any{"type": "number"}
		case strings.HasPrefix(t.Name, "uint") || t.Name == "byte":
			return map[string]any{"type": "integer", "minimum": 0}
		case strings.HasPrefix(t.Name, "int") || t.Name == "rune":
			return map[string]any{"type": "integer"}
		}
		return map[string]any{}
	case Named:
		var b strings.Builder
		t.write(&b, true)
		name := b.String()
		if t.Unmarshals {
			return map[string]any{"description": name + " decodes itself"}
		}
		u := t.expansion()
		if u == nil {
			if name == "time.Time" {
				return map[string]any{"type": "string", "format": "date-time"}
			}
			return map[string]any{"description": name}
		}
		if _, done := g.defs[name]; !done {
			g.defs[name] = nil // taken: a recursive reference stops here
			g.defs[name] = g.schema(u)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case Pointer:
		return map[string]any{"anyOf": []any{g.schema(t.Elem), map[string]any{"type": "null"}}}
	case Slice:
		if t.Elem.Kind == Basic && (t.Elem.Name == "byte" || t.Elem.Name == "uint8") {
			return map[string]any{"type": []string{"string", "null"}, "contentEncoding": "base64"}
		}
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem)}
	case Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem), "minItems": t.Len, "maxItems": t.Len}
	case Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem)}
	case Struct:
		props := map[string]any{}
		var required []string
		g.fields(t, props, &required)
		out := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			out["required"] = required
		}
		return out
	}
	return map[string]any{}
}

// fields adds the JSON fields of struct t, promoting untagged embedded
// structs as encoding/json does.
func (g *schemaGen) fields(t *Type, props map[string]any, required *[]string) {
	for _, f := range t.Fields {
		if !onWire(f) {
			continue
		}
		if e, st := promoted(f); e != nil && !g.open[e] {
			g.open[e] = true // a struct that embeds itself stops here
			g.fields(st, props, required)
			delete(g.open, e)
			continue
		}
		if !f.Exported {
			continue
		}
		props[f.JSON] = g.schema(f.Type)
		if _, opts, _ := strings.Cut(reflect.StructTag(f.Tag).Get("json"), ","); !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, f.JSON)
		}
	}
}
