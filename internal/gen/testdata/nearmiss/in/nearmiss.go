// Package nearmiss has the mistakes bsgen must not pass over in silence.
package nearmiss

import "github.com/better-state/better-state/schema"

// S is the state.
//
//bs:state
type S struct {
	N     int `json:"n"`
	cache int // never synced
}

// Set forgot ctx: it looks like an action but is not one.
func (s *S) Set(n int) error {
	s.N = n
	return nil
}

// Late takes ctx, but not first.
func (s *S) Late(n int, ctx schema.Ctx) error {
	s.N = n
	return nil
}

// Sum is an exported helper: not an action, and no warning.
func (s *S) Sum() int { return s.N + s.cache }

// Spaced is marked with a space after //.
//
// bs:state
type Spaced struct{ A int }

// Upper is marked in upper case.
//
// bs:State
type Upper struct{ A int }

// Short is marked with a typo.
//
//bs:stat
type Short struct{ A int }
