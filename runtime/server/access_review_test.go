package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/schema"
)

// TestReadRuleRevokesBeforeTheNextEvent: a reader removed by an event hears
// nothing after that event, even from the same batch.
func TestReadRuleRevokesBeforeTheNextEvent(t *testing.T) {
	s := startTodos(t)
	ann, _ := s.Server().CreateKey(context.Background(), server.KeySpec{Actor: "ann"})
	bob, _ := s.Server().CreateKey(context.Background(), server.KeySpec{Actor: "bob"})
	a, b := connectAs(t, s, ann, "a"), connectAs(t, s, bob, "b")
	a.subTodos("shared", 0, "")
	a.expect(protocol.TSynced)
	a.send(protocol.Msg{T: protocol.TMut, Key: "shared", Mid: 1, Name: "Share", Args: json.RawMessage(`{"actor":"bob"}`)})
	a.expect(protocol.TEv)
	b.subTodos("shared", 0, "")
	for m := b.expect2(); m.T != protocol.TSynced; m = b.expect2() {
	}
	// One frame: the unshare and a secret, applied in one batch.
	a.sendRaw([]byte(`[{"t":"mut","key":"shared","mid":2,"name":"Unshare","args":{"actor":"bob"}},{"t":"mut","key":"shared","mid":3,"name":"Add","args":{"title":"SECRET"}}]`))
	if ev := b.expect(protocol.TEv); ev.Name != "Unshare" {
		t.Fatalf("%+v", ev)
	}
	if m := b.expect2(); m.T != protocol.TErr || m.Code != protocol.CodeForbidden {
		t.Fatalf("after the unshare, bob got %s %s %s", m.T, m.Name, m.Args)
	}
	b.quiet(300 * time.Millisecond)
}

// TestPanickingRuleIsARefusal: a rule that panics refuses; the server
// lives on.
func TestPanickingRuleIsARefusal(t *testing.T) {
	boom := *todos.ListType
	boom.ReadRule = func(any, schema.Ctx) error { panic("boom") }
	boom.WriteRule = func(any, schema.Ctx, string) error { panic("bang") }
	s := servertest.Start(t, servertest.Register(func(r *contract.Registry) { r.Add(&boom) }))
	code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", s.Key, `{"type":"todos.List","name":"Add","args":{"title":"x"}}`)
	if code != 422 || errCode(out) != protocol.CodeActionPanic {
		t.Fatalf("a write under a panicking rule: %d %v", code, out)
	}
	c := connect(t, s, "c")
	c.subTodos("k", 0, "")
	if e := c.expectErr(protocol.CodeForbidden); !strings.Contains(e.Message, "panicked") {
		t.Fatalf("%+v", e)
	}
	if code, _ := rest(t, "GET", s.HTTPURL+"/healthz", "", ""); code != 200 {
		t.Fatal("the server died")
	}
}

// TestReadGrantDoesNotCreateKeys: subscribing to a key that does not exist
// creates it, which a read grant does not allow.
func TestReadGrantDoesNotCreateKeys(t *testing.T) {
	s := startWithTokens(t)
	c, _, err := dialWS(t, s.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "reader", Auth: mint(t, "default", "ann", time.Hour, "board-*:r")})
	c.expect(protocol.TWelcome)
	c.subTodos("board-1", 0, "")
	c.expectErr(protocol.CodeForbidden)
	if code, _ := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/board-1", s.Key, ""); code != 404 {
		t.Fatalf("the key was made: %d", code)
	}
	if _, err := s.Server().CreateKey(context.Background(), server.KeySpec{Role: server.RoleAdmin, Grants: []string{"k:r"}}); err == nil {
		t.Fatal("an admin key with grants was made")
	}
	if _, err := server.MintToken(tokenSecret, "default", "*", []string{"list-{actor}-*:rw"}, time.Hour); err == nil {
		t.Fatal("a token whose actor would turn {actor} into a wildcard was minted")
	}
}

// TestRevokingTheKeyAConnectionSwitchedTo: after auth with an API key,
// revoking that key ends the connection.
func TestRevokingTheKeyAConnectionSwitchedTo(t *testing.T) {
	s := startWithTokens(t)
	key, _ := s.Server().CreateKey(context.Background(), server.KeySpec{Actor: "ann"})
	c, _, err := dialWS(t, s.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "switch", Auth: mint(t, "default", "ann", time.Hour, "list-ann-1:r")})
	c.expect(protocol.TWelcome)
	c.send(protocol.Msg{T: protocol.TAuth, Auth: key})
	c.expect(protocol.TAuthed)
	s.RevokeKey(key)
	m, err := c.next(10 * time.Second)
	if err != nil || m.Code != protocol.CodeUnauthorized || !m.Fatal {
		t.Fatalf("after the revocation: %+v %v", m, err)
	}
}
