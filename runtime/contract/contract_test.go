package contract_test

import (
	"errors"
	"fmt"
	"strings"
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

// A made-up shape of thousands of fields is refused naming the first
// differences; the registry's cache keeps only those, not the whole list.
func TestCompatibleCacheIsBounded(t *testing.T) {
	typ := &contract.Type{Name: "t.S", Shape: "state t.S\nfield int n\n"}
	r := contract.NewRegistry(typ)
	var b strings.Builder
	b.WriteString("state t.S\n")
	for i := range 4000 {
		fmt.Fprintf(&b, "field int k%d\n", i)
	}
	err := r.Compatible(typ, b.String())
	var se *contract.SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("not refused: %v", err)
	}
	if len(se.Diffs) > 6 || !strings.Contains(err.Error(), "and 3995 more differences") {
		t.Fatalf("%d diffs kept: %.300v", len(se.Diffs), err)
	}
	if again := r.Compatible(typ, b.String()); again != err {
		t.Fatalf("not answered from the cache: %v", again)
	}
	if err := r.Compatible(typ, "state t.S\n"); err != nil {
		t.Fatalf("a client reading fewer fields: %v", err)
	}
}
