package polls_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/schema"
)

// FuzzDispatch applies any action name and any argument bytes through the
// dispatcher, as the server does with what a client sends: no action
// panics (Dispatch is called without Apply's recover, so a panic fails the
// fuzz), a failed action leaves the state it ran on untouched when
// applied to a clone (the server's way), and a state an action accepted
// still encodes.
func FuzzDispatch(f *testing.F) {
	for _, a := range polls.PollType.Actions {
		f.Add(a, []byte(`{"option":1}`))
		f.Add(a, []byte(`{}`))
	}
	f.Add("Vote", []byte(`{"nope":1}`))
	f.Add("Explode", []byte(`null`))
	f.Fuzz(func(t *testing.T, action string, args []byte) {
		typ := polls.PollType
		base := typ.New()
		ctx := schema.NewContext(schema.Meta{Key: "k", Client: "c", Mid: 1, Actor: "a", Time: time.UnixMilli(1)})
		if err := typ.Apply(base, ctx, "Setup", []byte(`{"question":"q","options":["a","b"]}`)); err != nil {
			t.Fatalf("setting up the state: %v", err)
		}
		before, _ := typ.Encode(base)
		next := typ.Clone(base)
		err := typ.Dispatch(next, schema.NewContext(schema.Meta{Key: "k", Client: "c", Mid: 2, Actor: "a", Time: time.UnixMilli(2)}), action, args)
		after, _ := typ.Encode(base)
		if !bytes.Equal(before, after) {
			t.Fatalf("applying to a clone changed the original: %s -> %s", before, after)
		}
		if err == nil {
			b, encErr := typ.Encode(next)
			if encErr != nil || !json.Valid(b) {
				t.Fatalf("accepted state does not encode: %v", encErr)
			}
		}
	})
}
