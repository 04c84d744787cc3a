// Package shape has a state with a field whose type is declared in another
// package of the module: the shape spells that type's fields out.
package shape

import (
	"time"

	"github.com/better-state/better-state/internal/gen/testdata/shape/in/meta"
	"github.com/better-state/better-state/schema"
)

// Doc is the state.
//
//bs:state
type Doc struct {
	Title string    `json:"title"`
	Meta  meta.Meta `json:"meta"`
	When  time.Time `json:"when"` // another module's type: a leaf
}

// Retitle changes the title.
func (d *Doc) Retitle(ctx schema.Ctx, title string) error {
	d.Title = title
	return nil
}
