package todos_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/schema"
)

var secret = []byte("the todos example's test secret, 32+ bytes")

// user is a client of one actor, with tokens granting its own lists and
// the shared ones.
func user(t *testing.T, s *servertest.Server, actor string) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, client.Options{
		ClientID: "c-" + actor,
		TokenSource: func(context.Context) (string, error) {
			return server.MintToken(secret, "default", actor, []string{"list-{actor}-*:rw", "shared-*:rw"}, time.Minute)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openList(t *testing.T, c *client.Client, key string) *client.Typed[todos.List] {
	t.Helper()
	l, err := client.Open[todos.List](c, todos.ListType, key)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func synced(t *testing.T, c *client.Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.WaitSynced(ctx)
}

func refusedWith(err error, code string) bool {
	var se *client.ServerError
	return errors.As(err, &se) && se.Code == code
}

// TestPerUserAndSharedLists: a user reads and writes only the lists its
// token grants; a shared list is read by its members only (the schema's
// read rule), even by users whose grants reach it, and a member who is
// removed loses it at once; only the owner changes the members.
func TestPerUserAndSharedLists(t *testing.T) {
	s := servertest.Start(t, servertest.Register(todos.Register), servertest.Config(func(c *server.Config) {
		c.Tokens = &server.TokenKeys{Secret: secret}
	}))
	ann, bob, carol := user(t, s, "ann"), user(t, s, "bob"), user(t, s, "carol")

	mine := openList(t, ann, "list-ann-groceries")
	if err := mine.Mutate(todos.ListAddArgs{Title: "milk"}); err != nil {
		t.Fatal(err)
	}
	if err := synced(t, ann); err != nil {
		t.Fatal(err)
	}
	peek := openList(t, bob, "list-ann-groceries")
	if err := synced(t, bob); !refusedWith(err, "forbidden") || !refusedWith(peek.Store().Err(), "forbidden") {
		t.Fatalf("bob on ann's list: %v", err)
	}

	shared := openList(t, ann, "shared-1")
	// Bob's grants reach shared-*: while it is not shared, he reads it.
	bobShared := openList(t, bob, "shared-1")
	if err := shared.Mutate(todos.ListAddArgs{Title: "plan"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(bobShared.Get().Items) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bob does not see the plan: %v", bobShared.Store().Err())
		}
	}
	if err := shared.Mutate(todos.ListShareArgs{Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	if err := synced(t, ann); err != nil {
		t.Fatal(err)
	}
	// Shared with carol, it is members-only: bob's subscription ends.
	deadline := time.Now().Add(10 * time.Second)
	for !refusedWith(bobShared.Store().Err(), "forbidden") {
		if time.Now().After(deadline) {
			t.Fatalf("bob still follows shared-1: %v", bobShared.Store().Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := bobShared.Store().Err(); !strings.Contains(err.Error(), "not_a_member") {
		t.Fatalf("bob's refusal does not say why: %v", err)
	}
	carols := openList(t, carol, "shared-1")
	if err := synced(t, carol); err != nil {
		t.Fatal(err)
	}
	if got := carols.Get(); len(got.Items) != 1 || got.Owner != "ann" {
		t.Fatalf("carol sees %+v", got)
	}
	if err := carols.Mutate(todos.ListAddArgs{Title: "cake"}); err != nil {
		t.Fatal(err)
	}
	// Only the owner shares: refused on carol's own view, before queueing.
	if rj, ok := schema.AsRejection(carols.Mutate(todos.ListShareArgs{Actor: "bob"})); !ok || rj.Code != "not_the_owner" {
		t.Fatalf("carol sharing: %v", rj)
	}
	if err := synced(t, carol); err != nil {
		t.Fatal(err)
	}
	// REST follows the same rule: bob's token may read shared-*, the
	// list's read rule refuses him.
	bobTok, _ := server.MintToken(secret, "default", "bob", []string{"shared-*:rw"}, time.Minute)
	if code := restGet(t, s.HTTPURL+"/v1/namespaces/default/states/shared-1", bobTok); code != 403 {
		t.Fatalf("bob's REST read of shared-1: %d", code)
	}
}

func restGet(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
