// Package tricky has what the typed JavaScript API must spell with care:
// parameters named like reserved words or the store, an action named like
// a store method, a type named like a declaration the API imports, a
// ",string" field and fields promoted through an embedded pointer.
package tricky

import "github.com/better-state/better-state/schema"

// Client shadows the Client type the declarations import.
type Client struct {
	Name string `json:"name"`
}

// Base is embedded through a pointer: its fields may be left out.
type Base struct {
	Made int64 `json:"made"`
}

// Box is the state.
//
//bs:state
type Box struct {
	*Base
	Owner Client          `json:"owner"`
	Count int64           `json:"count,string"`
	Tags  map[string]bool `json:"tags,omitempty"`
}

// Get is named like a store method.
func (b *Box) Get(ctx schema.Ctx, new string) error {
	b.Owner.Name = new
	return nil
}

// Put has parameters named delete and store.
func (b *Box) Put(ctx schema.Ctx, store int64, delete bool) error {
	if delete {
		b.Count = 0
		return nil
	}
	b.Count += store
	return nil
}
