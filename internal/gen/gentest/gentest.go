// Package gentest holds test helpers for code that bsgen generates: a check
// that two values share no memory, and a check that applying an action
// through its JSON envelope and dispatcher does exactly what calling the
// method does. The generator's golden tests and the examples' tests import
// it; nothing else should.
package gentest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/schema"
)

// SharedMemory returns a description of every place where b reaches the same
// memory as a: a slice backing array, a map, or a pointer target. Values of
// package time are skipped (their *Location is meant to be shared). Empty
// means a and b are disjoint.
func SharedMemory(a, b any) []string {
	seen := map[uintptr]string{}
	collect(reflect.ValueOf(a), "a", seen, map[uintptr]bool{})
	var shared []string
	find(reflect.ValueOf(b), "b", seen, map[uintptr]bool{}, &shared)
	return shared
}

var timeType = reflect.TypeFor[time.Time]()

// walk calls visit for every reference reachable from v, with its path.
// visit returns false to stop descending into a reference already seen.
func walk(v reflect.Value, path string, visit func(addr uintptr, path string) bool) {
	if !v.IsValid() || v.Type() == timeType {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if visit(v.Pointer(), path) {
			walk(v.Elem(), "(*"+path+")", visit)
		}
	case reflect.Slice:
		if v.IsNil() || v.Cap() == 0 {
			return // nothing can be written through an empty backing array
		}
		if visit(v.Pointer(), path) {
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), visit)
			}
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		if visit(v.Pointer(), path) {
			it := v.MapRange()
			for it.Next() {
				walk(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), visit)
			}
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), visit)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			walk(v.Field(i), path+"."+v.Type().Field(i).Name, visit)
		}
	case reflect.Interface:
		walk(v.Elem(), path, visit)
	}
}

func collect(v reflect.Value, path string, seen map[uintptr]string, done map[uintptr]bool) {
	walk(v, path, func(addr uintptr, p string) bool {
		if done[addr] {
			return false
		}
		done[addr] = true
		seen[addr] = p
		return true
	})
}

func find(v reflect.Value, path string, seen map[uintptr]string, done map[uintptr]bool, out *[]string) {
	walk(v, path, func(addr uintptr, p string) bool {
		if done[addr] {
			return false
		}
		done[addr] = true
		if ap, ok := seen[addr]; ok {
			*out = append(*out, p+" shares memory with "+ap)
		}
		return true
	})
}

// AssertDisjoint fails t if clone shares any memory with orig.
func AssertDisjoint(t testing.TB, orig, clone any) {
	t.Helper()
	for _, s := range SharedMemory(orig, clone) {
		t.Error(s)
	}
}

// Ctx returns the context of mutation mid by client "c1", actor "alice",
// at a fixed time: the same for the envelope path and the direct call.
func Ctx(mid uint64) schema.Ctx {
	return schema.NewContext(schema.Meta{Key: "k", Client: "c1", Actor: "alice", Mid: mid,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
}

// Case is one action applied both ways.
type Case[S any] struct {
	Action string
	Args   any                            // the envelope value, marshalled to JSON
	Direct func(s *S, c schema.Ctx) error // the same call, made directly
}

// Act returns a case: action with args through the envelope, direct as
// the same call made on the method.
func Act[S any](action string, args any, direct func(s *S, c schema.Ctx) error) Case[S] {
	return Case[S]{Action: action, Args: args, Direct: direct}
}

// AssertEnvelopeMatchesDirect applies each case to two clones of start,
// one through JSON and t's dispatcher, one by calling the method, and fails
// unless the states and the errors' codes are identical. It also fails if a
// type's action has no case.
func AssertEnvelopeMatchesDirect[S any](t *testing.T, typ *contract.Type, start func() *S, cases []Case[S]) {
	t.Helper()
	covered := map[string]bool{}
	for i, c := range cases {
		covered[c.Action] = true
		args, err := json.Marshal(c.Args)
		if err != nil {
			t.Fatalf("%s: %v", c.Action, err)
		}
		viaEnvelope := typ.Clone(start()).(*S)
		direct := typ.Clone(start()).(*S)
		errE := typ.Apply(viaEnvelope, Ctx(uint64(i+1)), c.Action, args)
		errD := c.Direct(direct, Ctx(uint64(i+1)))
		if contract.ErrCode(errE) != contract.ErrCode(errD) || (errE == nil) != (errD == nil) {
			t.Errorf("%s %s: envelope error %v, direct error %v", c.Action, args, errE, errD)
		}
		if !reflect.DeepEqual(viaEnvelope, direct) {
			t.Errorf("%s %s: envelope gives\n%+v\ndirect call gives\n%+v", c.Action, args, viaEnvelope, direct)
		}
	}
	for _, a := range typ.Actions {
		if !covered[a] {
			t.Errorf("action %s of %s has no envelope case", a, typ.Name)
		}
	}
}
