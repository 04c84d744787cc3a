// Package board has a state with a presence type.
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

// Viewer is what each connection on a board says about itself.
//
//bs:presence Board
type Viewer struct {
	Name   string `json:"name"`
	Cursor *Point `json:"cursor,omitempty"`
}

// Point is a place on the board.
type Point struct {
	X, Y int32
}
