// Package nondet has one action per construct that bsgen's determinism
// check refuses or warns about, and actions that are fine.
package nondet

import (
	crand "crypto/rand"
	"maps"
	"math/rand"
	randv2 "math/rand/v2"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/better-state/better-state/internal/gen/testdata/nondet/in/helper"
	"github.com/better-state/better-state/schema"
)

// S is the state.
//
//bs:state
type S struct {
	At    time.Time      `json:"at"`
	N     int            `json:"n"`
	Names []string       `json:"names"`
	M     map[string]int `json:"m"`
}

var (
	counter int
	cache   = map[string]int{}
	last    []string
	hits    struct{ N int }
)

func (s *S) Now(ctx schema.Ctx) error   { s.At = time.Now(); return nil }
func (s *S) Since(ctx schema.Ctx) error { s.N = int(time.Since(s.At)); return nil }
func (s *S) Until(ctx schema.Ctx) error { s.N = int(time.Until(s.At)); return nil }
func (s *S) Rand(ctx schema.Ctx) error  { s.N = rand.Intn(10); return nil }
func (s *S) RandV2(ctx schema.Ctx) error {
	s.N = randv2.IntN(10)
	return nil
}
func (s *S) CryptoRand(ctx schema.Ctx) error {
	b := make([]byte, 4)
	crand.Read(b)
	s.N = int(b[0])
	return nil
}
func (s *S) Env(ctx schema.Ctx) error {
	s.Names = append(s.Names, os.Getenv("USER"))
	return nil
}
func (s *S) Args(ctx schema.Ctx) error { s.Names = os.Args; return nil }
func (s *S) Lookup(ctx schema.Ctx, host string) error {
	addrs, _ := net.LookupHost(host)
	s.Names = addrs
	return nil
}
func (s *S) Go(ctx schema.Ctx) error {
	go func() {}()
	return nil
}
func (s *S) Send(ctx schema.Ctx) error {
	c := make(chan int, 1)
	c <- 1
	return nil
}
func (s *S) Receive(ctx schema.Ctx) error {
	c := make(chan int, 1)
	s.N = <-c
	return nil
}
func (s *S) Select(ctx schema.Ctx) error {
	c := make(chan int)
	select {
	case v := <-c:
		s.N = v
	default:
	}
	return nil
}
func (s *S) RangeChan(ctx schema.Ctx) error {
	c := make(chan int)
	close(c)
	for v := range c {
		s.N += v
	}
	return nil
}
func (s *S) Global(ctx schema.Ctx) error    { counter = s.N; return nil }
func (s *S) GlobalInc(ctx schema.Ctx) error { counter++; return nil }
func (s *S) GlobalMap(ctx schema.Ctx, k string) error {
	cache[k] = s.N
	delete(cache, "old")
	return nil
}
func (s *S) GlobalAppend(ctx schema.Ctx, v string) error { last = append(last, v); return nil }
func (s *S) GlobalField(ctx schema.Ctx) error            { hits.N += 1; return nil }

// Through reaches time.Now through a function and a method.
func (s *S) Through(ctx schema.Ctx) error { s.stamp(); return nil }
func (s *S) stamp()                       { s.At = now() }
func now() time.Time                      { return time.Now() }

// Closure reaches time.Now inside a function literal.
func (s *S) Closure(ctx schema.Ctx) error {
	f := func() time.Time { return time.Now() }
	s.At = f()
	return nil
}

// FuncValue uses time.Now as a value.
func (s *S) FuncValue(ctx schema.Ctx) error {
	clock := time.Now
	s.At = clock()
	return nil
}

// OtherPackage reaches math/rand through a package of the same module.
func (s *S) OtherPackage(ctx schema.Ctx) error {
	s.N = helper.Pick(3)
	return nil
}

// MapRange ranges over a map: a warning.
func (s *S) MapRange(ctx schema.Ctx) error {
	for k := range s.M {
		s.Names = append(s.Names, k)
	}
	return nil
}

// MapKeys ranges over maps.Keys: a warning too.
func (s *S) MapKeys(ctx schema.Ctx) error {
	for k := range maps.Keys(s.M) {
		s.Names = append(s.Names, k)
	}
	return nil
}

// SelectCase computes a case's value with math/rand: reported besides the
// select itself.
func (s *S) SelectCase(ctx schema.Ctx) error {
	c := make(chan int, 1)
	select {
	case c <- rand.Intn(3):
	default:
	}
	return nil
}

// Fine uses only what replicas share.
func (s *S) Fine(ctx schema.Ctx, name string) error {
	s.At = ctx.Time().Add(time.Hour)
	s.N = ctx.Rand().IntN(10) + counter // reading a package variable is fine
	s.Names = append(s.Names, helper.Clean(strings.ToUpper(name)), ctx.NewID())
	for _, k := range slices.Sorted(maps.Keys(s.M)) {
		s.Names = append(s.Names, k)
	}
	sort.Strings(s.Names)
	local := map[string]int{}
	local[name] = 1
	var arr [2]int
	arr[0] = len(local)
	s.N += arr[0]
	return nil
}

// helperNotCalled would be refused, but no action calls it.
func helperNotCalled() { counter = int(time.Now().Unix()) }

// Tally is a helper method that ranges over a map; no action calls it.
func (s *S) Tally() int {
	n := 0
	for _, v := range s.M {
		n += v
	}
	return n
}

// ReadRule reads the clock: rules are checked like actions.
func (s S) ReadRule(ctx schema.Ctx) error {
	if time.Now().Hour() > 12 {
		return schema.Reject("late", "too late")
	}
	return nil
}
