// Package holes has one action per determinism hole of issue 21 that bsgen
// refuses or warns about, and actions that are fine.
package holes

import (
	"hash/maphash"
	"reflect"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/dave/jennifer/jen"
	"golang.org/x/mod/semver"

	"github.com/better-state/better-state/schema"
)

//bs:pure golang.org/x/mod/semver compares and checks version strings, nothing else

// S is the state.
//
//bs:state
type S struct {
	F   float64   `json:"f"`
	At  time.Time `json:"at"`
	N   int64     `json:"n"`
	Tag string    `json:"tag"`
	M   map[string]int64
	W   int `json:"w"` // machine-sized: warned
}

// Fused may compile to one multiply-add on arm64.
func (s *S) Fused(ctx schema.Ctx, x, y, z float64) error {
	s.F = x*y + z
	return nil
}

// Rounded is the fix: the conversion rounds the product.
func (s *S) Rounded(ctx schema.Ctx, x, y, z float64) error {
	s.F = float64(x*y) + z
	return nil
}

// AcrossStatements fuses too: the product is a value the addition uses.
func (s *S) AcrossStatements(ctx schema.Ctx, x, y float64) error {
	t := x * y
	s.F += t
	return nil
}

// Scale multiplies in place.
func (s *S) Scale(ctx schema.Ctx, x float64) error {
	s.F *= x
	return nil
}

// Constant products are exact at compile time.
func (s *S) Constant(ctx schema.Ctx) error {
	s.F = 2.5*4 + 1
	return nil
}

func (s *S) Local(ctx schema.Ctx) error { s.At = s.At.Local(); return nil }
func (s *S) In(ctx schema.Ctx) error    { s.At = s.At.In(time.Local); return nil }
func (s *S) Zone(ctx schema.Ctx) error {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return err
	}
	s.At = s.At.In(loc)
	return nil
}
func (s *S) UTC(ctx schema.Ctx) error   { s.At = ctx.Time().UTC(); return nil } // fine
func (s *S) Sleep(ctx schema.Ctx) error { time.Sleep(time.Millisecond); return nil }

func (s *S) MapHash(ctx schema.Ctx) error {
	s.N = int64(maphash.String(maphash.MakeSeed(), s.Tag))
	return nil
}
func (s *S) Goroutines(ctx schema.Ctx) error { s.N = int64(runtime.NumGoroutine()); return nil }
func (s *S) GOOS(ctx schema.Ctx) error       { s.Tag = runtime.GOOS; return nil }
func (s *S) MapKeys(ctx schema.Ctx) error {
	for _, k := range reflect.ValueOf(s.M).MapKeys() {
		s.Tag += k.String()
	}
	return nil
}
func (s *S) Sizeof(ctx schema.Ctx) error { s.N = int64(unsafe.Sizeof(s.W)); return nil }

var mu sync.Mutex

func (s *S) Lock(ctx schema.Ctx) error {
	mu.Lock()
	defer mu.Unlock()
	s.N++
	return nil
}

// OtherModule calls code bsgen does not follow.
func (s *S) OtherModule(ctx schema.Ctx) error { s.Tag = jen.Id("x").GoString(); return nil }

// Pure calls a package the schema declared pure.
func (s *S) Pure(ctx schema.Ctx) error {
	if semver.Compare(s.Tag, "v1.2.0") < 0 {
		s.Tag = "v1.2.0"
	}
	return nil
}

// namer is implemented in this module by clock, whose Name reads the clock:
// the call through the interface is followed to it.
type namer interface{ Name() string }

type clock struct{}

func (clock) Name() string { return time.Now().String() }

func pick() namer { return clock{} }

func (s *S) Interface(ctx schema.Ctx) error { s.Tag = pick().Name(); return nil }

// hook is a function value bsgen cannot follow.
var hook = func() int64 { return 1 }

func (s *S) FuncValue(ctx schema.Ctx) error { s.N = hook(); return nil }

// Closure calls a function literal of its own body: inspected, fine.
func (s *S) Closure(ctx schema.Ctx) error {
	add := func(n int64) int64 { return n + 1 }
	s.N = add(s.N)
	return nil
}

// FineFloats are products no addition can take unrounded: converted to an
// integer, compared, multiplied again inside a conversion.
func (s *S) FineFloats(ctx schema.Ctx, price, qty, budget float64) error {
	s.N = int64(price * qty)
	if price*qty > budget {
		s.F = float64(price * qty * 2)
	}
	return nil
}

// Errors are deterministic: err.Error() is not reported.
func (s *S) Errors(ctx schema.Ctx, tag string) error {
	if err := s.check(tag); err != nil {
		s.Tag = err.Error()
	}
	return nil
}

func (s *S) check(tag string) error {
	if tag == "" {
		return errEmpty
	}
	return nil
}

type emptyError struct{}

func (emptyError) Error() string { return "empty" }

var errEmpty error = emptyError{}

// mul multiplies values of any float type.
func mul[T ~float64](a, b T) T { return a * b }

// Generic calls a generic helper whose product an addition takes.
func (s *S) Generic(ctx schema.Ctx, x, y, z float64) error {
	s.F = mul(x, y) + z
	return nil
}

// Complex multiplies complex numbers, fused inside whatever the conversion.
func (s *S) Complex(ctx schema.Ctx, x, y float64) error {
	c := complex(x, y)
	c = complex128(c * c)
	s.F = real(c)
	return nil
}

// Unix builds a time in the machine's zone; UnixUTC does it right.
func (s *S) Unix(ctx schema.Ctx, sec int64) error    { s.N = int64(time.Unix(sec, 0).Hour()); return nil }
func (s *S) UnixUTC(ctx schema.Ctx, sec int64) error { s.At = time.Unix(sec, 0).UTC(); return nil }
