package client

import (
	"fmt"

	"github.com/better-state/better-state/runtime/contract"
)

// Typed is the store of one key of state type S: Get and Subscribe see an S,
// and Mutate takes only the action envelopes that bsgen generated for S.
//
//	l, err := client.Open[todos.List](c, todos.ListType, "main")
//	err = l.Mutate(todos.ListAddArgs{Title: "milk"})
//	fmt.Println(l.Get().Items)
type Typed[S any] struct {
	store *Store
}

// Open opens the store of key, a state of type t whose Go type is S.
// Opening a key twice returns an error, as Client.Open does; so does a t
// whose states are not *S.
func Open[S any](c *Client, t *contract.Type, key string) (*Typed[S], error) {
	if _, ok := t.New().(*S); !ok {
		var zero S
		return nil, fmt.Errorf("client: type %s holds %T, not *%T", t.Name, t.New(), zero)
	}
	s, err := c.Open(t, key)
	if err != nil {
		return nil, err
	}
	return &Typed[S]{store: s}, nil
}

// Key returns the store's key.
func (t *Typed[S]) Key() string { return t.store.Key() }

// Store returns the untyped store behind t: its Seq, Pending, Err and
// Confirmed.
func (t *Typed[S]) Store() *Store { return t.store }

// Get returns a copy of the current view: the confirmed state with the
// pending mutations applied. It shares no memory with the store.
func (t *Typed[S]) Get() S { return *t.store.View().(*S) }

// Subscribe calls fn with each new view until cancel is called; see
// Store.Subscribe.
func (t *Typed[S]) Subscribe(fn func(S)) (cancel func()) {
	return t.store.Subscribe(func(v any) { fn(*v.(*S)) })
}

// Mutate applies the action that a names to the view at once and queues it
// durably for the server; see Store.Mutate.
func (t *Typed[S]) Mutate(a contract.Action[S]) error {
	return t.store.Mutate(a.ActionName(nil), a)
}
