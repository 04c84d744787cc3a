package server_test

import (
	"strings"
	"testing"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// TestSchemaPolicies: an action's //bs:maxargs and a state's maxstate
// (contract.Type.MaxArgs, MaxStateBytes) are refused with their codes, on
// WebSocket and REST alike.
func TestSchemaPolicies(t *testing.T) {
	limited := *todos.ListType
	limited.MaxArgs = map[string]int{"Add": 40}
	limited.MaxStateBytes = 200
	s := servertest.Start(t, servertest.Register(func(r *contract.Registry) { r.Add(&limited) }))
	c := connect(t, s, "c")
	c.subTodos("k", 0, "")
	c.expect(protocol.TSynced)
	c.send(addTo("k", 1, strings.Repeat("a", 40)))
	if rj := c.expect(protocol.TRej); rj.Code != protocol.CodeArgsTooLarge || !strings.Contains(rj.Message, "at most 40 bytes") {
		t.Fatalf("%+v", rj)
	}
	// The mid moved: the next is 2. Titles of 20 bytes, 10 of them would
	// pass 200 bytes of state.
	mid := uint64(2)
	for ; ; mid++ {
		c.send(addTo("k", mid, strings.Repeat("b", 20)))
		m := c.expect2()
		if m.T == protocol.TRej {
			if m.Code != protocol.CodeStateTooLarge || !strings.Contains(m.Message, "schema's maxstate") {
				t.Fatalf("%+v", m)
			}
			break
		}
		if mid > 20 {
			t.Fatal("the state grew past its maxstate")
		}
	}
	code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", s.Key, `{"name":"Add","args":{"title":"`+strings.Repeat("c", 50)+`"}}`)
	if code != 422 || errCode(out) != protocol.CodeArgsTooLarge {
		t.Fatalf("REST: %d %v", code, out)
	}
}

// TestActorRate: one actor's mutations are paced across its connections
// and REST together.
func TestActorRate(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.ActorMutationsPerSec = 3 }))
	a, b := connect(t, s, "a"), connect(t, s, "b")
	for _, c := range []*wsc{a, b} {
		c.subTodos("k", 0, "")
		c.expect(protocol.TSynced)
	}
	a.send(addTo("k", 1, "a1"))
	a.expect(protocol.TEv)
	b.expect(protocol.TEv)
	b.send(addTo("k", 1, "b1"))
	b.expect(protocol.TEv)
	a.expect(protocol.TEv)
	code, _ := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", s.Key, `{"name":"Add","args":{"title":"r"}}`)
	if code != 200 {
		t.Fatalf("the third: %d", code)
	}
	a.expect(protocol.TEv)
	// Three spent by the same actor (the dev key's), on two connections
	// and REST: the fourth anywhere is over.
	a.send(addTo("k", 2, "a2"))
	if e := a.expectErr(protocol.CodeRateLimited); e.Mid != 2 || e.RetryMs <= 0 || !strings.Contains(e.Message, `actor "dev"`) {
		t.Fatalf("%+v", e)
	}
	code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", s.Key, `{"name":"Add","args":{"title":"r2"}}`)
	if code != 429 || errCode(out) != protocol.CodeRateLimited {
		t.Fatalf("REST over the actor's rate: %d %v", code, out)
	}
	// Another actor is not held back.
	other := createKey(t, s, "default", server.RoleClient)
	if code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", other, `{"name":"Add","args":{"title":"o"}}`); code != 200 {
		t.Fatalf("another actor: %d %v", code, out)
	}
}
