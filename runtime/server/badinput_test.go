package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// TestBadInputOverWebSocket sends each kind of bad input on one connection:
// each gets its code, nothing is appended, and the connection stays usable.
func TestBadInputOverWebSocket(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	mid := uint64(0)
	add := func(title string) {
		mid++
		a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Add", Args: args(t, map[string]string{"title": title})})
		a.expect(protocol.TEv)
	}
	add("first")

	cases := []struct {
		name string
		send func()
		code string
		rej  bool // a rej (the mid moves) rather than an err
	}{
		{"malformed JSON", func() { a.sendRaw([]byte(`{"t":"mut",`)) }, protocol.CodeBadMessage, false},
		{"not a message", func() { a.sendRaw([]byte(`{"key":"k"}`)) }, protocol.CodeBadMessage, false},
		{"unknown message type", func() { a.sendRaw([]byte(`{"t":"explode"}`)) }, protocol.CodeBadMessage, false},
		{"unknown type", func() {
			a.send(protocol.Msg{T: protocol.TSub, Key: "other", Type: "todos.Nope", FP: "x"})
		}, protocol.CodeUnknownType, false},
		{"bad key", func() {
			a.send(protocol.Msg{T: protocol.TSub, Key: "a/b", Type: "todos.List", FP: "x"})
		}, protocol.CodeBadKey, false},
		{"mutation on an unsubscribed key", func() {
			a.send(protocol.Msg{T: protocol.TMut, Key: "unsubscribed", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "x"})})
		}, protocol.CodeNotSubscribed, false},
		{"unknown action", func() {
			mid++
			a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Explode"})
		}, protocol.CodeUnknownAction, true},
		{"ill-typed args", func() {
			mid++
			a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Add", Args: []byte(`{"title":42}`)})
		}, protocol.CodeBadArgs, true},
		{"unknown argument", func() {
			mid++
			a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Add", Args: []byte(`{"title":"x","extra":1}`)})
		}, protocol.CodeBadArgs, true},
		{"reducer rejection", func() {
			mid++
			a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Add", Args: []byte(`{"title":"  "}`)})
		}, "empty_title", true},
	}
	for _, tc := range cases {
		tc.send()
		var m protocol.Msg
		if tc.rej {
			m = a.expect(protocol.TRej)
			if m.Mid != mid {
				t.Errorf("%s: rej for mid %d, want %d", tc.name, m.Mid, mid)
			}
		} else {
			m = a.expect(protocol.TErr)
		}
		if m.Code != tc.code || m.Message == "" {
			t.Errorf("%s: got code %q (%q), want %q", tc.name, m.Code, m.Message, tc.code)
		}
		if seq, _ := stateOf(t, s, "k"); seq != 1 {
			t.Fatalf("%s: something was appended: seq %d", tc.name, seq)
		}
	}
	// Still usable, and the refused mids moved on: the next mid is accepted.
	add("second")
	if seq, list := stateOf(t, s, "k"); seq != 2 || len(list.Items) != 2 {
		t.Fatalf("seq %d items %d", seq, len(list.Items))
	}
	// A refusal is stored until acknowledged: a new subscription with
	// acked below it hears it again.
	b := connect(t, s, "c")
	b.send(protocol.Msg{T: protocol.TSub, Key: "k", Type: "todos.List", FP: a2fp(), After: 2, Epoch: epochOf(t, s, "k"), Acked: 1})
	for _, code := range []string{protocol.CodeUnknownAction, protocol.CodeBadArgs, protocol.CodeBadArgs, "empty_title"} {
		if m := b.expect(protocol.TRej); m.Code != code {
			t.Fatalf("stored rej %q, want %q", m.Code, code)
		}
	}
	b.expect(protocol.TSynced)
	// Acknowledged refusals are forgotten.
	c := connect(t, s, "c")
	c.send(protocol.Msg{T: protocol.TSub, Key: "k", Type: "todos.List", FP: a2fp(), After: 2, Epoch: epochOf(t, s, "k"), Acked: mid})
	// Its synced comes after the room handled the acknowledgment, and the
	// next sub of the key is handled after it.
	c.expect(protocol.TSynced)
	d := connect(t, s, "c")
	d.send(protocol.Msg{T: protocol.TSub, Key: "k", Type: "todos.List", FP: a2fp(), After: 2, Epoch: epochOf(t, s, "k"), Acked: 1})
	d.expect(protocol.TSynced)
}

func TestOversizedFrameClosesConnection(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.MaxFrameBytes = 1024 }))
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": strings.Repeat("x", 2000)})})
	if e := a.expectErr(protocol.CodeFrameTooLarge); !e.Fatal || !strings.Contains(e.Message, "1024") {
		t.Fatalf("want a fatal frame_too_large naming the limit, got %+v", e)
	}
	_, err := a.next(5 * time.Second)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig || ce.Reason != protocol.CodeFrameTooLarge {
		t.Fatalf("want close status 1009 with reason frame_too_large, got %v", err)
	}
	if seq, _ := stateOf(t, s, "k"); seq != 0 {
		t.Fatalf("appended: seq %d", seq)
	}
	// REST has the same limit.
	code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", s.Key, `{"name":"Add","args":{"title":"`+strings.Repeat("x", 2000)+`"}}`)
	if code != http.StatusRequestEntityTooLarge || errCode(out) != protocol.CodeFrameTooLarge {
		t.Fatalf("REST oversized: %d %v", code, out)
	}
}

func TestAuthentication(t *testing.T) {
	s := startTodos(t)
	// No key, wrong key: refused before the upgrade.
	for _, key := range []string{"", "wrong", "bs_nope_nope"} {
		_, resp, err := dialWS(t, s.URL, key)
		if err == nil && key != "" {
			t.Fatalf("key %q: connected", key)
		}
		if key != "" && (resp == nil || resp.StatusCode != 401) {
			t.Fatalf("key %q: %v", key, resp)
		}
		if key == "" {
			// Without a header the key may come in hello; a hello without
			// one is refused, fatally.
			c, _, err := dialWS(t, s.URL, "")
			if err != nil {
				t.Fatal(err)
			}
			c.send(protocol.Msg{T: protocol.THello, V: 1, Client: "c"})
			if m := c.expect(protocol.TErr); m.Code != protocol.CodeUnauthorized || !m.Fatal {
				t.Fatalf("hello without key: %+v", m)
			}
			c2, _, _ := dialWS(t, s.URL, "")
			c2.send(protocol.Msg{T: protocol.THello, V: 1, Client: "c", Auth: s.Key})
			c2.expect(protocol.TWelcome)
		}
		code, out := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states", key, "")
		if code != 401 || errCode(out) != protocol.CodeUnauthorized {
			t.Fatalf("REST key %q: %d %v", key, code, out)
		}
	}
	// Messages before hello are refused.
	c, _, _ := dialWS(t, s.URL, s.Key)
	c.send(protocol.Msg{T: protocol.TSub, Key: "k"})
	if m := c.expect(protocol.TErr); m.Code != protocol.CodeHelloRequired || !m.Fatal {
		t.Fatalf("sub before hello: %+v", m)
	}
}

func TestAnotherNamespacesKeyIsRefused(t *testing.T) {
	s := startTodos(t)
	// A client key of namespace "acme", made the way the keys command does.
	key := createKey(t, s, "acme", "client")
	admin := createKey(t, s, "acme", "admin")
	// It cannot reach "default" on any endpoint.
	for _, path := range []string{
		"/v1/namespaces/default/states",
		"/v1/namespaces/default/states/k",
		"/v1/namespaces/default/states/k/history",
		"/v1/namespaces/default/states/k/at/0",
	} {
		code, out := rest(t, "GET", s.HTTPURL+path, admin, "")
		if code != 403 || errCode(out) != protocol.CodeForbidden {
			t.Fatalf("GET %s: %d %v", path, code, out)
		}
	}
	code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", key, `{"type":"todos.List","name":"Add","args":{"title":"x"}}`)
	if code != 403 || errCode(out) != protocol.CodeForbidden {
		t.Fatalf("POST: %d %v", code, out)
	}
	// Over WebSocket, its keys live in its own namespace: a write there
	// does not touch default's key of the same name.
	c, _, err := dialWS(t, s.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	c.send(protocol.Msg{T: protocol.THello, V: 1, Client: "c", Namespace: "default"})
	if m := c.expect(protocol.TErr); m.Code != protocol.CodeForbidden {
		t.Fatalf("hello for another namespace: %+v", m)
	}
	c2, _, _ := dialWS(t, s.URL, key)
	c2.send(protocol.Msg{T: protocol.THello, V: 1, Client: "c"})
	if w := c2.expect(protocol.TWelcome); w.Namespace != "acme" {
		t.Fatalf("welcome %+v", w)
	}
	c2.subTodos("k", 0, "")
	c2.expect(protocol.TSynced)
	c2.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "acme's"})})
	c2.expect(protocol.TEv)
	code, out = rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/k", s.Key, "")
	if code != 404 {
		t.Fatalf("default/k exists after acme's write: %d %v", code, out)
	}
	// A client key may not list states; an admin key may, its own.
	if code, _ := rest(t, "GET", s.HTTPURL+"/v1/namespaces/acme/states", key, ""); code != 403 {
		t.Fatalf("client key listed states: %d", code)
	}
	code, out = rest(t, "GET", s.HTTPURL+"/v1/namespaces/acme/states", admin, "")
	if code != 200 || len(out["states"].([]any)) != 1 {
		t.Fatalf("admin list: %d %v", code, out)
	}
}
