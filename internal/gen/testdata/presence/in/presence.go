// Package board has a state with a presence type.
package board

import (
	"slices"

	"github.com/better-state/better-state/schema"
)

// Board is a shared board, of at most 64 KiB.
//
//bs:state maxstate=64KiB
type Board struct {
	Notes   []string `json:"notes"`
	Members []string `json:"members"`
	Owner   string   `json:"owner"`
}

// ReadRule lets only the members read a board that has members.
func (b Board) ReadRule(ctx schema.Ctx) error {
	if len(b.Members) == 0 || slices.Contains(b.Members, ctx.Actor()) {
		return nil
	}
	return schema.Reject("not_a_member", "this board is for its members")
}

// WriteRule lets only the owner write a board that has one.
func (b Board) WriteRule(ctx schema.Ctx, action string) error {
	if b.Owner != "" && b.Owner != ctx.Actor() {
		return schema.Reject("not_the_owner", "only "+b.Owner+" may "+action)
	}
	return nil
}

// Add adds a note of at most 1 KiB of arguments.
//
//bs:maxargs 1KiB
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
