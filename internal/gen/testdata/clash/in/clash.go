// Package clash declares names that bsgen would generate.
package clash

import "github.com/better-state/better-state/schema"

// Good is a fine state whose generated names clash with declarations below.
//
//bs:state
type Good struct{ N int }

// Inc is an action.
func (g *Good) Inc(ctx schema.Ctx) error { g.N++; return nil }

// GoodType clashes with the generated descriptor.
var GoodType = 1

// GoodIncArgs clashes with the generated envelope.
type GoodIncArgs struct{}

// Register clashes with the generated Register.
func Register() {}

// runtime is a package-level name that the generated file's import of the
// runtime package must not collide with: bsgen imports it under another
// name.
var runtime = "not a package"
