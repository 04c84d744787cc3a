package model

import (
	"regexp"
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

func TestFingerprint(t *testing.T) {
	str := &Type{Kind: Basic, Name: "string"}
	s := listState(str)
	fp := s.Fingerprint()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q", fp)
	}
	if listState(str).Fingerprint() != fp {
		t.Fatal("the same shape gave another fingerprint")
	}
	shape := s.Shape()
	for _, want := range []string{"state todos.List = todos.List=struct{Items \"items\" []todos.Item=struct{ID \"id\" string; Next \"next\" *todos.Item}}", "action Add(title string)"} {
		if !strings.Contains(shape, want) {
			t.Errorf("shape lacks %q:\n%s", want, shape)
		}
	}
	// Each change of shape changes the fingerprint.
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
	}
	for name, change := range changes {
		s := listState(str)
		change(s)
		if s.Fingerprint() == fp {
			t.Errorf("changing the %s kept the fingerprint", name)
		}
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
