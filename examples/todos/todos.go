// Package todos is the state shared by every todo client: one List per key.
//
// It is a Better-State schema package. bsgen turns it into typed stores,
// action envelopes and the server registration in todos_bs.go.
package todos

//go:generate go tool bsgen -server ./cmd/todos-server -web ./web -wasm ./cmd/todos-wasm

import (
	"slices"
	"strings"

	"github.com/better-state/better-state/schema"
)

// List is one shared todo list.
//
//bs:state
type List struct {
	Items []Item `json:"items"`
	// Members, once the list is shared, are the only actors who may read
	// and write it; Owner (who shared it first) alone changes Members.
	Members []string `json:"members,omitempty"`
	Owner   string   `json:"owner,omitempty"`
}

// Watcher is what each client on a list says about itself, in memory only
// (presence): `todos watch` shows who else is watching.
//
//bs:presence List
type Watcher struct {
	Name string `json:"name"`
}

// Item is one todo.
type Item struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// Add appends an item with a new id.
func (l *List) Add(ctx schema.Ctx, title string) error {
	title = strings.TrimSpace(title)
	if title == "" {
		return schema.Reject("empty_title", "a todo needs a title")
	}
	l.Items = append(l.Items, Item{ID: ctx.NewID(), Title: title})
	return nil
}

// Toggle flips an item between done and not done.
func (l *List) Toggle(ctx schema.Ctx, id string) error {
	i := l.find(id)
	if i < 0 {
		return schema.Reject("no_such_item", "no todo with id "+id)
	}
	l.Items[i].Done = !l.Items[i].Done
	return nil
}

// Rename changes an item's title.
func (l *List) Rename(ctx schema.Ctx, id, title string) error {
	title = strings.TrimSpace(title)
	if title == "" {
		return schema.Reject("empty_title", "a todo needs a title")
	}
	i := l.find(id)
	if i < 0 {
		return schema.Reject("no_such_item", "no todo with id "+id)
	}
	l.Items[i].Title = title
	return nil
}

// Remove deletes an item.
func (l *List) Remove(ctx schema.Ctx, id string) error {
	i := l.find(id)
	if i < 0 {
		return schema.Reject("no_such_item", "no todo with id "+id)
	}
	l.Items = append(l.Items[:i], l.Items[i+1:]...)
	return nil
}

// ClearDone removes every item that is done.
func (l *List) ClearDone(ctx schema.Ctx) error {
	kept := l.Items[:0]
	for _, it := range l.Items {
		if !it.Done {
			kept = append(kept, it)
		}
	}
	l.Items = kept
	return nil
}

// Share makes actor a member. The first Share makes the list members-only,
// with its caller as owner and first member.
func (l *List) Share(ctx schema.Ctx, actor string) error {
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return schema.Reject("empty_actor", "share with whom?")
	}
	if l.Owner == "" {
		l.Owner = ctx.Actor()
		l.Members = append(l.Members, l.Owner)
	}
	if !slices.Contains(l.Members, actor) {
		l.Members = append(l.Members, actor)
	}
	return nil
}

// Unshare removes a member other than the owner.
func (l *List) Unshare(ctx schema.Ctx, actor string) error {
	i := slices.Index(l.Members, actor)
	if i < 0 || actor == l.Owner {
		return schema.Reject("not_a_member", actor+" is not a member the owner can remove")
	}
	l.Members = slices.Delete(l.Members, i, i+1)
	return nil
}

// ReadRule lets only the members read a shared list (the server runs it
// for every subscription and read, and again after each change).
func (l List) ReadRule(ctx schema.Ctx) error {
	if len(l.Members) > 0 && !slices.Contains(l.Members, ctx.Actor()) {
		return schema.Reject("not_a_member", "this list is shared with its members only")
	}
	return nil
}

// WriteRule lets only the members change a shared list, and only its
// owner change who the members are.
func (l List) WriteRule(ctx schema.Ctx, action string) error {
	if err := l.ReadRule(ctx); err != nil {
		return err
	}
	if (action == "Share" || action == "Unshare") && l.Owner != "" && ctx.Actor() != l.Owner {
		return schema.Reject("not_the_owner", "only "+l.Owner+" shares this list")
	}
	return nil
}

// find is a helper, not an action: it is unexported.
func (l *List) find(id string) int {
	for i, it := range l.Items {
		if it.ID == id {
			return i
		}
	}
	return -1
}
