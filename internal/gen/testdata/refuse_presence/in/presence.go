// Package board has presence types that are wrong.
package board

import "github.com/better-state/better-state/schema"

// Board is a shared board.
//
//bs:state
type Board struct {
	Notes []string `json:"notes"`
}

// Add adds a note.
func (b *Board) Add(ctx schema.Ctx, text string) error {
	b.Notes = append(b.Notes, text)
	return nil
}

// Viewer is fine.
//
//bs:presence Board
type Viewer struct {
	Name string `json:"name"`
}

// Second is a second presence type of Board.
//
//bs:presence Board
type Second struct {
	Name string `json:"name"`
}

// Nowhere names no state.
//
//bs:presence Table
type Nowhere struct{}

// Nameless names nothing.
//
//bs:presence
type Nameless struct{}

// Wire holds a channel.
//
//bs:presence Other
type Wire struct {
	C chan int
}

// Other is another state.
//
//bs:state
type Other struct {
	N int64
}

// Access holds a rule that a state embeds.
type Access struct {
	Members []string
}

// ReadRule lets the members read.
func (a Access) ReadRule(ctx schema.Ctx) error { return nil }

// Doc gets its read rule from Access.
//
//bs:state
type Doc struct {
	Access
	Text string
}

// Third has a size that is not one.
//
//bs:state maxstate=lots
type Third struct{}

// Set has a directive that is not one.
//
//bs:maxargs
//bs:limit 3
func (o *Other) Set(ctx schema.Ctx, n int64) error { o.N = n; return nil }

// ReadRule has a pointer receiver.
func (o *Other) ReadRule(ctx schema.Ctx) error { return nil }

// WriteRule lacks the action.
func (o Other) WriteRule(ctx schema.Ctx) error { return nil }

// Name is not a struct.
//
//bs:presence Other
type Name string
