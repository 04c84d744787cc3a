// Package counter is the smallest Better-State app: one shared counter per
// key. It is what `bsgen init` scaffolds when no example is named.
package counter

//go:generate go tool bsgen -server ./cmd/counter-server -web ./web -wasm ./cmd/counter-wasm

import "github.com/better-state/better-state/schema"

// Counter is one shared counter.
//
//bs:state
type Counter struct {
	N       int64  `json:"n"`
	LastBy  string `json:"last_by"`
	Changes int64  `json:"changes"`
}

// Viewer is what each client on a counter says about itself, in memory only
// (presence): `counter watch` shows who else is there.
//
//bs:presence Counter
type Viewer struct {
	Name string `json:"name"`
}

// Add adds n, which must not be zero.
func (c *Counter) Add(ctx schema.Ctx, n int64) error {
	if n == 0 {
		return schema.Reject("zero", "adding zero changes nothing")
	}
	c.N += n
	c.LastBy = ctx.Actor()
	c.Changes++
	return nil
}

// Reset sets the counter back to zero.
func (c *Counter) Reset(ctx schema.Ctx) error {
	c.N = 0
	c.LastBy = ctx.Actor()
	c.Changes++
	return nil
}
