package contract_test

import (
	"testing"

	"github.com/better-state/better-state/runtime/contract"
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
		{`{"title":1}`, contract.CodeBadArgs},
		{`{"title":"x","other":1}`, contract.CodeBadArgs},
		{`["x"]`, contract.CodeBadArgs},
		{`{"title":"x"} {}`, contract.CodeBadArgs},
		{`{"title":`, contract.CodeBadArgs},
	} {
		var a args
		err := contract.DecodeArgs("Add", []byte(tc.in), &a)
		if got := contract.ErrCode(err); got != tc.code {
			t.Errorf("%q: code %q (%v), want %q", tc.in, got, err, tc.code)
		}
	}
}

type st struct{ N int }

func TestApplyRecoversPanics(t *testing.T) {
	typ := &contract.Type{
		Name: "t.S",
		New:  func() any { return new(st) },
		Dispatch: func(s any, ctx schema.Ctx, action string, args []byte) error {
			if action == "Boom" {
				panic("boom")
			}
			return contract.UnknownAction("t.S", action)
		},
	}
	if err := typ.Apply(typ.New(), schema.NewContext(schema.Meta{}), "Boom", nil); contract.ErrCode(err) != contract.CodeActionPanic {
		t.Fatalf("panic: %v", err)
	}
	if err := typ.Apply(typ.New(), schema.NewContext(schema.Meta{}), "Nope", nil); contract.ErrCode(err) != contract.CodeUnknownAction {
		t.Fatalf("unknown: %v", err)
	}
}

func TestRegistryRefusesTwoTypesOfOneName(t *testing.T) {
	r := contract.NewRegistry(&contract.Type{Name: "a.B"})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	r.Add(&contract.Type{Name: "a.B"})
}
