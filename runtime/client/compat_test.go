package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/schema"
)

// newerList is todos.List as a newer schema would serve it: one action more,
// Archive, which removes an item (like Remove, under another name).
func newerList() *contract.Type {
	t := *todos.ListType
	t.Shape += "action Archive(id string)\n"
	t.Fingerprint = contract.FingerprintOf(t.Shape)
	t.Actions = []string{"Add", "Archive", "ClearDone", "Remove", "Rename", "Toggle"}
	alias := func(action string) string {
		if action == "Archive" {
			return "Remove"
		}
		return action
	}
	base := todos.ListType
	t.Dispatch = func(s any, ctx schema.Ctx, action string, args []byte) error {
		return base.Dispatch(s, ctx, alias(action), args)
	}
	t.Args = func(action string) any { return base.Args(alias(action)) }
	t.Call = func(s any, ctx schema.Ctx, action string, args any) error {
		return base.Call(s, ctx, alias(action), args)
	}
	return &t
}

// An old client served by a newer server cannot apply the new action's
// events: it takes a snapshot and follows the server all the same.
func TestOldClientFollowsANewAction(t *testing.T) {
	newer := newerList()
	srv := servertest.Start(t, servertest.Register(func(r *contract.Registry) { r.Add(newer) }))
	oldC := dial(t, srv.URL, t.TempDir())
	newC := dial(t, srv.URL, "")
	old := open(t, oldC, "k")
	cur, err := client.Open[todos.List](newC, newer, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Mutate(todos.ListAddArgs{Title: "milk"}); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, oldC, newC)
	for deadline := time.Now().Add(10 * time.Second); len(cur.Get().Items) != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the new client did not see the old client's item")
		}
		time.Sleep(5 * time.Millisecond)
	}
	id := cur.Get().Items[0].ID
	// The new client archives it with the action the old one lacks.
	if err := cur.Store().Mutate("Archive", todos.ListRemoveArgs{ID: id}); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, newC)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(old.Get().Items) != 0 {
		if ctx.Err() != nil {
			t.Fatalf("the old client still shows %+v after the new action", old.Get().Items)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := old.Store().Err(); err != nil {
		t.Fatalf("the old client stopped: %v", err)
	}
}
