package runtime_test

import (
	"testing"

	"github.com/better-state/better-state/runtime"
	"github.com/better-state/better-state/schema"
)

type args struct {
	Title string `json:"title"`
}

func TestDecodeArgsIsStrict(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code string
	}{
		{`{"title":"x"}`, ""},
		{``, ""},
		{`null`, ""},
		{`{"title":1}`, runtime.CodeBadArgs},
		{`{"title":"x","other":1}`, runtime.CodeBadArgs},
		{`["x"]`, runtime.CodeBadArgs},
		{`{"title":"x"} {}`, runtime.CodeBadArgs},
		{`{"title":`, runtime.CodeBadArgs},
	} {
		var a args
		err := runtime.DecodeArgs("Add", []byte(tc.in), &a)
		if got := runtime.ErrCode(err); got != tc.code {
			t.Errorf("%q: code %q (%v), want %q", tc.in, got, err, tc.code)
		}
	}
}

type st struct{ N int }

func TestApplyRecoversPanics(t *testing.T) {
	typ := &runtime.Type{
		Name: "t.S",
		New:  func() any { return new(st) },
		Dispatch: func(s any, ctx schema.Ctx, action string, args []byte) error {
			if action == "Boom" {
				panic("boom")
			}
			return runtime.UnknownAction("t.S", action)
		},
	}
	if err := typ.Apply(typ.New(), schema.NewContext(schema.Meta{}), "Boom", nil); runtime.ErrCode(err) != runtime.CodeActionPanic {
		t.Fatalf("panic: %v", err)
	}
	if err := typ.Apply(typ.New(), schema.NewContext(schema.Meta{}), "Nope", nil); runtime.ErrCode(err) != runtime.CodeUnknownAction {
		t.Fatalf("unknown: %v", err)
	}
}

func TestRegistryRefusesTwoTypesOfOneName(t *testing.T) {
	r := runtime.NewRegistry(&runtime.Type{Name: "a.B"})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	r.Add(&runtime.Type{Name: "a.B"})
}
