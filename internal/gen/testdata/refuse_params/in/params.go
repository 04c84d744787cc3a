// Package params has actions whose parameters cannot travel as JSON, and
// methods that look like actions but are not.
package params

import (
	"unsafe"

	"github.com/better-state/better-state/schema"
)

// S is the state.
//
//bs:state
type S struct {
	N int `json:"n"`
}

// Inner is a struct with a field that cannot travel.
type Inner struct {
	Name string
	Done chan bool
	skip chan int // unexported: encoding/json ignores it
}

// Key is not string-kinded.
type Key struct{ A, B string }

// Name is string-kinded.
type Name string

func (s *S) Chan(ctx schema.Ctx, c chan int) error                 { return nil }
func (s *S) Func(ctx schema.Ctx, f func() int) error               { return nil }
func (s *S) Unsafe(ctx schema.Ctx, p unsafe.Pointer) error         { return nil }
func (s *S) Any(ctx schema.Ctx, v any) error                       { return nil }
func (s *S) Err(ctx schema.Ctx, e error) error                     { return nil }
func (s *S) IntKey(ctx schema.Ctx, m map[int]string) error         { return nil }
func (s *S) StructKey(ctx schema.Ctx, m map[Key]string) error      { return nil }
func (s *S) Complex(ctx schema.Ctx, c complex128) error            { return nil }
func (s *S) Nested(ctx schema.Ctx, in []Inner) error               { return nil }
func (s *S) Unnamed(ctx schema.Ctx, _ string) error                { return nil }
func (s *S) Clash(ctx schema.Ctx, userID string, userId int) error { return nil }

// Reserved takes a parameter whose envelope field would be a generated method.
func (s *S) Reserved(ctx schema.Ctx, unmarshalArgs string) error { return nil }
func (s *S) Get(ctx schema.Ctx) error                            { return nil }

// Fine has parameters that all travel: a named string key is allowed.
func (s *S) Fine(ctx schema.Ctx, m map[Name][]int, in Inner2) error { return nil }

// Inner2 has only fields that travel.
type Inner2 struct {
	A    []string
	skip func()   // unexported: ignored by encoding/json
	Tag  chan int `json:"-"`
}

// Value has a value receiver: it could not change the state.
func (s S) Value(ctx schema.Ctx) error { return nil }

// Count takes a Ctx but returns more than an error: not an action.
func (s *S) Count(ctx schema.Ctx) (int, error) { return s.N, nil }
