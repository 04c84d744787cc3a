// Package counter is a bsgen test schema with a server main, and
// package-level names that collide with the packages generated code imports.
package counter

import "github.com/better-state/better-state/schema"

// Counter counts.
//
//bs:state
type Counter struct {
	N int `json:"n"`
}

// Add adds by to the counter.
func (c *Counter) Add(ctx schema.Ctx, by int) error {
	c.N += by
	return nil
}

// client and runtime are package-level names: the generated file must
// import runtime/client and runtime under other names.
var (
	client  = "a variable"
	runtime = "another"
)

// Describe uses them.
func Describe() string { return client + runtime }
