package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestExportName(t *testing.T) {
	for in, want := range map[string]string{
		"title":    "Title",
		"id":       "ID",
		"userId":   "UserID",
		"userID":   "UserID",
		"homeURL":  "HomeURL",
		"url":      "URL",
		"htmlURL":  "HTMLURL",
		"HTMLFile": "HTMLFile",
		"apiKey":   "APIKey",
		"snake_id": "SnakeID",
		"x":        "X",
		"option2":  "Option2",
		"ids":      "Ids",
		"uuid":     "UUID",
		"jsonBody": "JSONBody",
		"café":     "Café",
	} {
		if got := ExportName(in); got != want {
			t.Errorf("ExportName(%q) = %q, want %q", in, got, want)
		}
	}
}

func listState(paramType *Type) *State {
	str := &Type{Kind: Basic, Name: "string"}
	item := &Type{Kind: Named, Name: "Item", PkgPath: "x/todos", PkgName: "todos", Local: true}
	item.Underlying = &Type{Kind: Struct, Fields: []*Field{
		{Name: "ID", JSON: "id", Type: str, Exported: true},
		{Name: "Next", JSON: "next", Type: &Type{Kind: Pointer, Elem: item}, Exported: true}, // recursive
	}}
	list := &Type{Kind: Named, Name: "List", PkgPath: "x/todos", PkgName: "todos", Local: true,
		Underlying: &Type{Kind: Struct, Fields: []*Field{{Name: "Items", JSON: "items", Type: &Type{Kind: Slice, Elem: item}, Exported: true}}}}
	return &State{Name: "List", WireName: "todos.List", Type: list, Actions: []*Action{
		{Name: "Add", Params: []*Param{{Name: "title", Field: "Title", Type: paramType}}},
	}}
}

func TestShape(t *testing.T) {
	str := &Type{Kind: Basic, Name: "string"}
	s := listState(str)
	shape := s.Shape()
	if listState(str).Shape() != shape {
		t.Fatal("the same state gave another shape")
	}
	want := "state todos.List\n" +
		"field [] items\n" +
		"field {} items[]\n" +
		"field string items[].id\n" +
		"field * items[].next\n" +
		"field @todos.Item items[].next\n" +
		"action Add(title string)\n"
	if shape != want {
		t.Errorf("shape:\n%s\nwant:\n%s", shape, want)
	}
	// Each change of shape changes the description.
	changes := map[string]func(*State){
		"param type":  func(s *State) { s.Actions[0].Params[0].Type = &Type{Kind: Basic, Name: "int"} },
		"param name":  func(s *State) { s.Actions[0].Params[0].Name = "name" },
		"action name": func(s *State) { s.Actions[0].Name = "Append" },
		"new action":  func(s *State) { s.Actions = append(s.Actions, &Action{Name: "Clear"}) },
		"wire name":   func(s *State) { s.WireName = "todos.Other" },
		"json name":   func(s *State) { s.Type.Underlying.Fields[0].JSON = "todos" },
		"nested field type": func(s *State) {
			s.Type.Underlying.Fields[0].Type.Elem.Underlying.Fields[0].Type = &Type{Kind: Basic, Name: "int"}
		},
		"variadic": func(s *State) {
			s.Actions[0].Params[0].Type = &Type{Kind: Slice, Elem: str}
			s.Actions[0].Variadic = true
		},
		"field of another package's type": func(s *State) {
			other := &Type{Kind: Named, Name: "Meta", PkgPath: "x/shared", PkgName: "shared",
				Wire: &Type{Kind: Struct, Fields: []*Field{{Name: "Tag", JSON: "tag", Type: str, Exported: true}}}}
			s.Type.Underlying.Fields = append(s.Type.Underlying.Fields, &Field{Name: "Meta", JSON: "meta", Type: other, Exported: true})
		},
	}
	for name, change := range changes {
		s := listState(str)
		change(s)
		if s.Shape() == shape {
			t.Errorf("changing the %s kept the shape", name)
		}
	}
	// Unexported and json:"-" fields are not on the wire; an untagged
	// embedded struct's fields are promoted, as encoding/json does.
	s = listState(str)
	base := &Type{Kind: Named, Name: "Base", PkgPath: "x/todos", PkgName: "todos", Local: true,
		Underlying: &Type{Kind: Struct, Fields: []*Field{{Name: "Rev", JSON: "rev", Type: &Type{Kind: Basic, Name: "int"}, Exported: true}}}}
	s.Type.Underlying.Fields = append(s.Type.Underlying.Fields,
		&Field{Name: "cache", JSON: "cache", Type: str},
		&Field{Name: "Skip", JSON: "-", Type: str, Exported: true},
		&Field{Name: "Base", JSON: "Base", Type: base, Embedded: true, Exported: true})
	if got := s.Shape(); got != strings.Replace(shape, "action", "field int rev\naction", 1) {
		t.Errorf("shape with unexported, skipped and embedded fields:\n%s", got)
	}
}

func TestNeedsDeepCopy(t *testing.T) {
	str := &Type{Kind: Basic, Name: "string"}
	timeT := &Type{Kind: Named, Name: "Time", PkgPath: "time", PkgName: "time"} // opaque
	for _, tc := range []struct {
		t    *Type
		want bool
	}{
		{str, false},
		{timeT, false},
		{&Type{Kind: Pointer, Elem: timeT}, true},
		{&Type{Kind: Slice, Elem: str}, true},
		{&Type{Kind: Map, Key: str, Elem: str}, true},
		{&Type{Kind: Array, Len: 2, Elem: str}, false},
		{&Type{Kind: Array, Len: 2, Elem: &Type{Kind: Slice, Elem: str}}, true},
		{&Type{Kind: Struct, Fields: []*Field{{Name: "A", Type: str}, {Name: "T", Type: timeT}}}, false},
		{listState(str).Type, true},
	} {
		if got := tc.t.NeedsDeepCopy(); got != tc.want {
			t.Errorf("%s: NeedsDeepCopy = %v, want %v", tc.t, got, tc.want)
		}
	}
}

func TestJSONSchema(t *testing.T) {
	s := listState(&Type{Kind: Basic, Name: "string"})
	var doc map[string]any
	if err := json.Unmarshal([]byte(s.JSONSchema()), &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	item := defs["todos.Item"].(map[string]any)
	next := item["properties"].(map[string]any)["next"].(map[string]any)
	// A recursive type refers to its own definition; a pointer may be null.
	if got := fmt.Sprint(next["anyOf"]); got != "[map[$ref:#/$defs/todos.Item] map[type:null]]" {
		t.Fatalf("next: %s", got)
	}
	add := doc["actions"].(map[string]any)["Add"].(map[string]any)
	if add["additionalProperties"] != false || fmt.Sprint(add["properties"]) != "map[title:map[type:string]]" {
		t.Fatalf("Add: %v", add)
	}
	if s.JSONSchema() != listState(&Type{Kind: Basic, Name: "string"}).JSONSchema() {
		t.Fatal("not the same text twice")
	}
}
